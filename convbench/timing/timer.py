"""Timing: latency you can trust, on CPU and CUDA, and comparisons that say when a difference is noise.

CPU: ``torch.utils.benchmark.Timer`` (block size chosen so timer overhead is negligible;
``adaptive_autorange`` repeats blocks until IQR / median < 10 % or the time budget runs out), with
the thread count fixed, the module in ``eval()`` under ``torch.inference_mode()``, an explicit
warm-up, and the C allocator keeping freed memory (see :mod:`convbench.allocator`).

CUDA: ``cudnn.benchmark`` on and recorded, a warm-up that covers its autotuning, then CUDA events
around blocks of back-to-back calls (or one call per reading after an L2 flush in "cold" mode), or
synchronised wall-clock readings (``cuda_timer="sync"``); peak memory from
``reset_peak_memory_stats`` / ``max_memory_allocated``.

Every reading is the time of one forward (or forward + backward with ``training=True``) of the whole
batch, in milliseconds; a :class:`Timing` reports their median and IQR and how many there were.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.benchmark import Timer

from convbench import backends
from convbench.allocator import retain_freed_memory
from convbench.contention import THRESHOLD, Contention, Probe, combine
from convbench.stats import CONFIDENCE, MARGIN, RatioEstimate, geometric_mean, paired_ratio

__all__ = ["Comparison", "Session", "Timing", "benchmark", "check_runs", "compare", "time_session"]

NOISY = 0.10  # IQR / median above this marks a timing as noisy (as torch.utils.benchmark warns)
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
MEMORY_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
CUDA_TIMERS = ("events", "sync")


@dataclass
class Timing:
    """Readings of one module and the settings they were taken under.

    ``times_ms`` holds one reading per timed block: the block's time divided by the calls in it.
    """

    median_ms: float
    iqr_ms: float
    runs: int
    calls_per_run: int
    noisy: bool
    device: str
    dtype: str
    memory_format: str
    mode: str
    method: str
    threads: int | None = None
    cudnn_benchmark: bool | None = None
    allocator: str | None = None
    peak_memory_bytes: int | None = None
    times_ms: list[float] = field(default_factory=list, repr=False)
    contention: Contention | None = None
    processes: int = 1
    backend: str = "eager"

    @property
    def noise(self) -> float:
        """IQR / median."""
        return self.iqr_ms / self.median_ms if self.median_ms else math.inf

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        flag = " (noisy)" if self.noisy else ""
        text = (f"{self.median_ms:.4g} ms +- {self.iqr_ms:.2g} ms IQR{flag}, median of {self.runs} runs "
                f"x {self.calls_per_run} calls ({self.method}, {self.device}, {self.dtype})")
        if self.contention is not None and self.contention.contended():
            text += f"; CONTENDED: {self.contention.describe()}"
        return text


@dataclass
class Comparison:
    """A variant timed against a baseline in interleaved rounds (variant, baseline, baseline,
    variant, ...), so drift of the machine falls on both alike.

    ``variant_ms`` / ``baseline_ms`` are the geometric means over rounds of each round's median,
    and ``estimate`` the paired ratio (see :mod:`convbench.stats`), so
    ``variant_ms / baseline_ms == estimate.ratio``. ``contention`` is what other work took while
    either was read (see :mod:`convbench.contention`).
    """

    variant: Timing
    baseline: Timing
    variant_ms: float
    baseline_ms: float
    estimate: RatioEstimate
    round_ratios: list[float]
    contention: Contention | None = None

    ratio = property(lambda self: self.estimate.ratio)
    ratio_low = property(lambda self: self.estimate.low)
    ratio_high = property(lambda self: self.estimate.high)
    p_value = property(lambda self: self.estimate.p_value)
    verdict = property(lambda self: self.estimate.verdict)
    significant = property(lambda self: self.estimate.significant)
    rounds = property(lambda self: self.estimate.rounds)

    def contended(self, threshold: float = THRESHOLD) -> bool:
        return self.contention is not None and self.contention.contended(threshold)

    def describe(self, variant: str = "variant", baseline: str = "baseline") -> str:
        text = self.estimate.describe(variant, baseline)
        if self.contended():
            text += f"; CONTENDED: {self.contention.describe()}"
        return text

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Session:
    """Several modules read in the same interleaved rounds.

    ``round_ms[i][r]`` is module ``i``'s median reading in round ``r``; ``round_process[r]`` the
    worker process round ``r`` ran in (0 when all ran here); ``contention[i][r]`` what other work
    took while module ``i`` was read in round ``r``.
    """

    timings: list[Timing]
    round_ms: list[list[float]]
    round_process: list[int]
    contention: list[list[Contention]]

    def latency_ms(self, i: int) -> float:
        """Module ``i``'s latency: the geometric mean over rounds of its per-round medians."""
        return geometric_mean(self.round_ms[i])

    def ratio(self, i: int, baseline: int, confidence: float = CONFIDENCE, margin: float = MARGIN) -> RatioEstimate:
        groups = self.round_process if len(set(self.round_process)) > 1 else None
        return paired_ratio(self.round_ms[i], self.round_ms[baseline], groups=groups,
                            confidence=confidence, margin=margin)

    def contention_of(self, *indices: int) -> Contention:
        """What other work took while any of ``indices`` was read, over all rounds."""
        return combine([c for i in indices for c in self.contention[i]])


class _Runner:
    """One module on one device, prepared once: a zero-argument call to time, and its settings."""

    def __init__(self, module: nn.Module, inputs, device: str, dtype: str, memory_format: str,
                 training: bool, threads: int | None, cuda_timer: str, cold: bool, cudnn_benchmark: bool,
                 backend: str = "eager"):
        if dtype not in DTYPES:
            raise ValueError(f"dtype={dtype!r} must be one of {', '.join(DTYPES)}")
        if memory_format not in MEMORY_FORMATS:
            raise ValueError(f"memory_format={memory_format!r} must be one of {', '.join(MEMORY_FORMATS)}")
        if cuda_timer not in CUDA_TIMERS:
            raise ValueError(f"cuda_timer={cuda_timer!r} must be one of {', '.join(CUDA_TIMERS)}")
        if str(device).split(":")[0] not in ("cpu", "cuda"):
            raise ValueError(f"device={device!r} must be cpu or cuda (cuda:N for one of several GPUs)")
        if not inputs or any(not isinstance(t, torch.Tensor) or t.numel() == 0 for t in inputs):
            raise ValueError("inputs must be non-empty tensors (batch, channels and sizes >= 1), e.g. "
                             "torch.randn(1, 64, 56, 56)")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads={threads!r} must be a whole number >= 1 (or None for torch's current count)")
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' but torch.cuda.is_available() is False")
        if cold and self.device.type != "cuda":
            raise ValueError("cold=True (L2 flush) applies to CUDA only")
        if backend not in backends.BACKENDS:
            raise ValueError(f"backend={backend!r} must be one of {', '.join(backends.BACKENDS)}")
        if training and backend != "eager":
            raise ValueError(f"backend={backend!r} times inference only; training=True needs backend='eager'")
        self.backend = backend
        self.is_cuda = self.device.type == "cuda"
        self.dtype, self.memory_format, self.training = dtype, memory_format, training
        self.threads = threads or torch.get_num_threads()
        self.cuda_timer, self.cold, self.cudnn_benchmark = cuda_timer, cold, cudnn_benchmark
        self.seconds_per_call: float | None = None
        self.allocator = "torch CUDA caching allocator" if self.is_cuda else retain_freed_memory()

        layout = MEMORY_FORMATS[memory_format]
        model = copy.deepcopy(module).to(self.device, DTYPES[dtype]).train(training)
        if layout is torch.channels_last:
            model = model.to(memory_format=layout)
        xs = tuple(_prepare_input(t, self.device, DTYPES[dtype], layout, training) for t in inputs)
        if training:
            self.call = _training_step(model, xs)
        else:
            saved = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            try:
                with torch.no_grad():
                    self.call = backends.prepare(backend, model, xs, self.threads, self.device)
            finally:
                torch.set_num_threads(saved)

    @property
    def gpu_index(self) -> int | None:
        """The CUDA device's index, for the contention probe; None on the CPU."""
        return (self.device.index or 0) if self.is_cuda else None

    @property
    def method(self) -> str:
        if self.backend != "eager":
            return f"{backends.version(self.backend)}, timed as eager is"
        if not self.is_cuda:
            return "torch.utils.benchmark"
        if self.cuda_timer == "sync":
            return "torch.utils.benchmark (synchronised)"
        return "CUDA events, L2 flushed" if self.cold else "CUDA events"

    @contextlib.contextmanager
    def settings(self):
        """Grad mode, threads and cuDNN flags for the duration of a measurement."""
        grad = contextlib.nullcontext() if self.training else torch.inference_mode()
        saved_threads, saved_cudnn = torch.get_num_threads(), torch.backends.cudnn.benchmark
        torch.set_num_threads(self.threads)
        torch.backends.cudnn.benchmark = self.cudnn_benchmark
        try:
            with grad:
                yield
        finally:
            torch.set_num_threads(saved_threads)
            torch.backends.cudnn.benchmark = saved_cudnn

    def warm_up(self, seconds: float) -> float:
        """Call until ``seconds`` have passed (and at least 3 times): lazy initialisation, cuDNN
        autotuning, allocator growth. Returns the estimated seconds per call."""
        calls, start = 0, time.perf_counter()
        while calls < 3 or time.perf_counter() - start < seconds:
            self.call()
            calls += 1
            self._sync()
        self.seconds_per_call = (time.perf_counter() - start) / calls
        return self.seconds_per_call

    def peak_memory(self) -> int | None:
        """CUDA memory one call needs on top of what is allocated before it (weights, inputs)."""
        if not self.is_cuda:
            return None
        self._sync()
        torch.cuda.reset_peak_memory_stats(self.device)
        before = torch.cuda.memory_allocated(self.device)
        self.call()
        self._sync()
        return torch.cuda.max_memory_allocated(self.device) - before

    def readings(self, min_time: float, max_time: float, adaptive: bool) -> tuple[list[float], int]:
        """Per-call times in ms of each timed block, and the calls per block."""
        if self.is_cuda and self.cuda_timer == "events":
            return self._event_readings(min_time, max_time, adaptive)
        timer = Timer("call()", globals={"call": self.call}, num_threads=self.threads)
        if adaptive:
            measurement = timer.adaptive_autorange(threshold=NOISY, min_run_time=min_time, max_run_time=max_time)
        else:
            measurement = timer.blocked_autorange(min_run_time=min_time)
        return [t * 1e3 for t in measurement.times], measurement.number_per_run

    def _event_readings(self, min_time: float, max_time: float, adaptive: bool):
        per_call = self.seconds_per_call or self.warm_up(0.0)
        calls = 1 if self.cold else max(1, math.ceil(1e-3 / per_call))  # blocks of >= 1 ms
        flush = (torch.empty(2 * torch.cuda.get_device_properties(self.device).L2_cache_size,
                             dtype=torch.uint8, device=self.device) if self.cold else None)
        times: list[float] = []
        start_time = time.perf_counter()
        while True:
            if flush is not None:
                flush.zero_()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(calls):
                self.call()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / calls)
            spent = time.perf_counter() - start_time
            settled = len(times) >= 10 and (not adaptive or _iqr(times) / np.median(times) < NOISY)
            if (spent >= min_time and settled) or spent >= max_time:
                return times, calls

    def timing(self, times: list[float], calls: int, peak_memory: int | None,
               contention: Contention | None = None) -> Timing:
        median, iqr, noisy = _summary(times)
        return Timing(
            median_ms=median, iqr_ms=iqr, runs=len(times), calls_per_run=calls,
            noisy=noisy, contention=contention, device=str(self.device), dtype=self.dtype,
            memory_format=self.memory_format, mode="training" if self.training else "inference",
            method=self.method, threads=self.threads,
            cudnn_benchmark=self.cudnn_benchmark if self.is_cuda else None,
            allocator=self.allocator, peak_memory_bytes=peak_memory, times_ms=list(times), backend=self.backend,
        )

    def _sync(self) -> None:
        if self.is_cuda:
            torch.cuda.synchronize(self.device)


def _prepare_input(t: torch.Tensor, device, dtype, layout, training: bool) -> torch.Tensor:
    t = t.detach().to(device, dtype if t.is_floating_point() else t.dtype)
    if t.dim() == 4:
        t = t.contiguous(memory_format=layout)
    return t.requires_grad_(training and t.is_floating_point())


def _training_step(model: nn.Module, xs) -> Callable[[], None]:
    """Forward + backward, with the output gradients made once, outside the timed call."""
    outputs = model(*xs)
    outputs = list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]
    grads = [torch.ones_like(o) for o in outputs]

    def step() -> None:
        out = model(*xs)
        torch.autograd.backward(list(out) if isinstance(out, (tuple, list)) else [out], grads)

    return step


def _iqr(times) -> float:
    q1, q3 = np.percentile(times, [25, 75])
    return float(q3 - q1)


def benchmark(
    module: nn.Module,
    *inputs: torch.Tensor,
    device: str = "cpu",
    dtype: str = "float32",
    memory_format: str = "contiguous",
    training: bool = False,
    threads: int | None = None,
    min_time: float = 0.2,
    max_time: float = 2.0,
    warmup_time: float = 0.05,
    cold: bool = False,
    cuda_timer: str = "events",
    cudnn_benchmark: bool = True,
    backend: str = "eager",
) -> Timing:
    """Time ``module(*inputs)``; the module itself is not changed (a prepared copy is timed).

    Readings are taken for at least ``min_time`` seconds and until IQR / median < 10 %, or until
    ``max_time`` seconds. ``threads`` defaults to torch's current thread count. The timing's
    ``contention`` says what other processes took meanwhile (:mod:`convbench.contention`).
    ``backend`` runs it on another runtime (:mod:`convbench.backends`), prepared before timing.
    """
    if not (math.isfinite(min_time) and math.isfinite(max_time) and 0 <= min_time <= max_time):
        raise ValueError(f"min_time={min_time} and max_time={max_time} must be finite, 0 <= min_time <= max_time")
    runner = _Runner(module, inputs, device, dtype, memory_format, training, threads, cuda_timer,
                     cold, cudnn_benchmark, backend)
    with runner.settings():
        runner.warm_up(warmup_time)
        peak = runner.peak_memory()
        probe = Probe(runner.gpu_index)
        times, calls = runner.readings(min_time, max_time, adaptive=True)
        contention = probe.stop()
    return runner.timing(times, calls, peak, contention)


def compare(
    variant: nn.Module,
    variant_inputs: tuple[torch.Tensor, ...],
    baseline: nn.Module,
    baseline_inputs: tuple[torch.Tensor, ...],
    *,
    rounds: int = 10,
    round_time: float = 0.1,
    confidence: float = CONFIDENCE,
    margin: float = MARGIN,
    processes: int = 1,
    **settings,
) -> Comparison:
    """Time ``variant`` against ``baseline`` interleaved, ``rounds`` rounds of ``round_time``
    seconds each (spread over ``processes`` fresh worker processes when > 1). ``settings`` are
    :func:`time_session`'s (device, dtype, memory_format, training, threads, ...)."""
    session = time_session([(variant, tuple(variant_inputs)), (baseline, tuple(baseline_inputs))],
                           rounds=rounds, round_time=round_time, processes=processes, **settings)
    return comparison(session, 0, 1, confidence, margin)


def comparison(session: Session, variant: int, baseline: int, confidence: float = CONFIDENCE,
               margin: float = MARGIN) -> Comparison:
    """Module ``variant`` of a session against module ``baseline`` of the same session."""
    return Comparison(
        variant=session.timings[variant], baseline=session.timings[baseline],
        variant_ms=session.latency_ms(variant), baseline_ms=session.latency_ms(baseline),
        estimate=session.ratio(variant, baseline, confidence, margin),
        round_ratios=[v / b for v, b in zip(session.round_ms[variant], session.round_ms[baseline])],
        contention=session.contention_of(variant, baseline),
    )


def check_runs(module: nn.Module, inputs: tuple[torch.Tensor, ...], *, device: str = "cpu", dtype: str = "float32",
               memory_format: str = "contiguous", training: bool = False, threads: int | None = None,
               cold: bool = False, cuda_timer: str = "events", cudnn_benchmark: bool = True,
               backend: str = "eager", **_):
    """Prepare ``module`` as a session would and call it once: raises what timing it would raise
    (an op without a bfloat16 kernel, out of memory, a runtime that cannot take it), so one module
    cannot fail a whole session. Returns that call's output."""
    runner = _Runner(module, inputs, device, dtype, memory_format, training, threads, cuda_timer, cold,
                     cudnn_benchmark, backend)
    with runner.settings():
        output = runner.call()
        runner._sync()
    return output


def time_session(
    entries: list[tuple[nn.Module, tuple[torch.Tensor, ...]]],
    *,
    rounds: int = 10,
    round_time: float = 0.1,
    processes: int = 1,
    on_round: Callable[[int, int], None] | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    memory_format: str = "contiguous",
    training: bool = False,
    threads: int | None = None,
    warmup_time: float = 0.05,
    cold: bool = False,
    cuda_timer: str = "events",
    cudnn_benchmark: bool = True,
    backend: str = "eager",
) -> Session:
    """Read every ``(module, inputs)`` (or ``(module, inputs, backend)``) in ``entries`` once per round for ``round_time`` seconds,
    in an order that rotates and reverses from round to round, for ``rounds`` rounds.

    With ``processes > 1`` the rounds are spread evenly over that many fresh worker processes, run
    one after another (never at once: they would contend), each of which prepares and warms up
    every module itself, so what differs between processes (memory layout, allocator state)
    enters the spread as it does between runs.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 2:
        raise ValueError(f"rounds={rounds!r} must be a whole number >= 2 for an interval")
    if not (isinstance(round_time, (int, float)) and math.isfinite(round_time) and round_time >= 0):
        raise ValueError(f"round_time={round_time!r} must be a finite number of seconds >= 0")
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"processes={processes!r} must be a whole number >= 1")
    if not entries:
        raise ValueError("nothing to time")
    settings = dict(device=device, dtype=dtype, memory_format=memory_format, training=training,
                    threads=threads, warmup_time=warmup_time, cold=cold, cuda_timer=cuda_timer,
                    cudnn_benchmark=cudnn_benchmark)
    entries = [(entry[0], entry[1], entry[2] if len(entry) > 2 else backend) for entry in entries]
    if processes == 1:
        return _session_here(entries, rounds, round_time, on_round, settings)
    return _session_in_processes(entries, rounds, round_time, processes, on_round, settings)


def _session_here(entries, rounds: int, round_time: float, on_round, settings: dict,
                  first_round: int = 0) -> Session:
    """The session in this process; ``first_round`` continues the reading order of earlier rounds
    (run in other processes)."""
    options = {k: v for k, v in settings.items() if k != "warmup_time"}
    runners = [_Runner(module, inputs, **options, backend=backend) for module, inputs, backend in entries]
    n = len(runners)
    blocks: list[list[list[float]]] = [[] for _ in range(n)]
    calls = [0] * n
    contention: list[list[Contention]] = [[] for _ in range(n)]
    with runners[0].settings():
        peaks = []
        for runner in runners:
            runner.warm_up(settings["warmup_time"])
            peaks.append(runner.peak_memory())
        for r in range(rounds):
            for i in _round_order(n, first_round + r):
                probe = Probe(runners[i].gpu_index)
                times, calls[i] = runners[i].readings(round_time, round_time * 4, adaptive=False)
                contention[i].append(probe.stop())
                blocks[i].append(times)
            if on_round:
                on_round(r + 1, rounds)
    timings = [runner.timing([t for block in per_round for t in block], c, peak, combine(cont))
               for runner, per_round, c, peak, cont in zip(runners, blocks, calls, peaks, contention)]
    round_ms = [[float(np.median(block)) for block in per_round] for per_round in blocks]
    return Session(timings=timings, round_ms=round_ms, round_process=[0] * rounds, contention=contention)


def _round_order(n: int, r: int) -> list[int]:
    """Round ``r``'s reading order: rotated by ``r`` and reversed every other round, so no module
    is always read first or always right after the same neighbour."""
    order = [(i + r // 2) % n for i in range(n)]
    return order[::-1] if r % 2 else order


def _session_in_processes(entries, rounds: int, round_time: float, processes: int, on_round,
                          settings: dict) -> Session:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    per_process = math.ceil(rounds / processes)
    parts: list[Session] = []
    context = multiprocessing.get_context("spawn")
    for p in range(processes):
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            part = pool.submit(_session_here, entries, per_process, round_time, None, settings,
                               p * per_process).result()
        parts.append(part)
        if on_round:
            on_round((p + 1) * per_process, processes * per_process)
    n = len(entries)
    timings = []
    for i in range(n):
        times = [t for part in parts for t in part.timings[i].times_ms]
        first = parts[0].timings[i]
        merged = _summary(times)
        timings.append(dataclasses.replace(
            first, median_ms=merged[0], iqr_ms=merged[1], runs=len(times), noisy=merged[2], times_ms=times,
            contention=combine([part.timings[i].contention for part in parts if part.timings[i].contention]),
            processes=processes))
    return Session(
        timings=timings,
        round_ms=[[ms for part in parts for ms in part.round_ms[i]] for i in range(n)],
        round_process=[p for p, part in enumerate(parts) for _ in part.round_process],
        contention=[[c for part in parts for c in part.contention[i]] for i in range(n)],
    )


def _summary(times: list[float]) -> tuple[float, float, bool]:
    median, iqr = float(np.median(times)), _iqr(times)
    return median, iqr, median > 0 and iqr / median > NOISY
