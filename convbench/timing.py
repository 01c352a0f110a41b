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
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.benchmark import Timer

from convbench.allocator import retain_freed_memory

__all__ = ["Comparison", "Timing", "benchmark", "compare", "compare_readings"]

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

    @property
    def noise(self) -> float:
        """IQR / median."""
        return self.iqr_ms / self.median_ms if self.median_ms else math.inf

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        flag = " (noisy)" if self.noisy else ""
        return (f"{self.median_ms:.4g} ms +- {self.iqr_ms:.2g} ms IQR{flag}, median of {self.runs} runs "
                f"x {self.calls_per_run} calls ({self.method}, {self.device}, {self.dtype})")


@dataclass
class Comparison:
    """A variant timed against a baseline, interleaved round by round (variant, baseline, baseline,
    variant, ...), so drift of the machine falls on both alike.

    ``ratio`` is variant / baseline of the pooled medians (< 1: the variant is faster);
    ``ratio_low`` / ``ratio_high`` the interquartile range of the per-round ratios; ``p_value`` a
    two-sided Mann-Whitney U test on the per-round medians. ``significant`` needs both
    ``p_value < alpha`` and a difference of at least ``min_effect`` (a few percent move between
    runs on a shared machine, whatever a test says about one run).
    """

    variant: Timing
    baseline: Timing
    ratio: float
    ratio_low: float
    ratio_high: float
    round_ratios: list[float]
    p_value: float
    significant: bool
    rounds: int
    alpha: float
    min_effect: float

    def verdict(self, variant: str = "variant", baseline: str = "baseline") -> str:
        spread = f"IQR {self.ratio_low:.2f}-{self.ratio_high:.2f}, p={self.p_value:.2g}, {self.rounds} rounds"
        if not self.significant:
            return f"{variant} ~ {baseline}: {self.ratio:.2f}x, not significant ({spread})"
        if self.ratio < 1:
            return f"{variant} is {1 / self.ratio:.2f}x faster than {baseline} ({spread})"
        return f"{variant} is {self.ratio:.2f}x slower than {baseline} ({spread})"

    def as_dict(self) -> dict:
        return asdict(self)


class _Runner:
    """One module on one device, prepared once: a zero-argument call to time, and its settings."""

    def __init__(self, module: nn.Module, inputs, device: str, dtype: str, memory_format: str,
                 training: bool, threads: int | None, cuda_timer: str, cold: bool, cudnn_benchmark: bool):
        if dtype not in DTYPES:
            raise ValueError(f"dtype={dtype!r} must be one of {', '.join(DTYPES)}")
        if memory_format not in MEMORY_FORMATS:
            raise ValueError(f"memory_format={memory_format!r} must be one of {', '.join(MEMORY_FORMATS)}")
        if cuda_timer not in CUDA_TIMERS:
            raise ValueError(f"cuda_timer={cuda_timer!r} must be one of {', '.join(CUDA_TIMERS)}")
        if str(device).split(":")[0] not in ("cpu", "cuda"):
            raise ValueError(f"device={device!r} must be cpu or cuda (cuda:N for one of several GPUs)")
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' but torch.cuda.is_available() is False")
        if cold and self.device.type != "cuda":
            raise ValueError("cold=True (L2 flush) applies to CUDA only")
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
        self.call = _training_step(model, xs) if training else (lambda: model(*xs))

    @property
    def method(self) -> str:
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

    def timing(self, times: list[float], calls: int, peak_memory: int | None) -> Timing:
        median = float(np.median(times))
        iqr = _iqr(times)
        return Timing(
            median_ms=median, iqr_ms=iqr, runs=len(times), calls_per_run=calls,
            noisy=median > 0 and iqr / median > NOISY, device=str(self.device), dtype=self.dtype,
            memory_format=self.memory_format, mode="training" if self.training else "inference",
            method=self.method, threads=self.threads,
            cudnn_benchmark=self.cudnn_benchmark if self.is_cuda else None,
            allocator=self.allocator, peak_memory_bytes=peak_memory, times_ms=list(times),
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
) -> Timing:
    """Time ``module(*inputs)``; the module itself is not changed (a prepared copy is timed).

    Readings are taken for at least ``min_time`` seconds and until IQR / median < 10 %, or until
    ``max_time`` seconds. ``threads`` defaults to torch's current thread count.
    """
    runner = _Runner(module, inputs, device, dtype, memory_format, training, threads, cuda_timer,
                     cold, cudnn_benchmark)
    with runner.settings():
        runner.warm_up(warmup_time)
        peak = runner.peak_memory()
        times, calls = runner.readings(min_time, max_time, adaptive=True)
    return runner.timing(times, calls, peak)


def compare(
    variant: nn.Module,
    variant_inputs: tuple[torch.Tensor, ...],
    baseline: nn.Module,
    baseline_inputs: tuple[torch.Tensor, ...],
    *,
    rounds: int = 10,
    round_time: float = 0.1,
    alpha: float = 0.01,
    min_effect: float = 0.05,
    device: str = "cpu",
    dtype: str = "float32",
    memory_format: str = "contiguous",
    training: bool = False,
    threads: int | None = None,
    warmup_time: float = 0.05,
    cold: bool = False,
    cuda_timer: str = "events",
    cudnn_benchmark: bool = True,
) -> Comparison:
    """Time ``variant`` against ``baseline`` interleaved, ``rounds`` times ``round_time`` seconds each."""
    if rounds < 2:
        raise ValueError(f"rounds={rounds} must be >= 2 for a spread and a significance test")
    settings = (device, dtype, memory_format, training, threads, cuda_timer, cold, cudnn_benchmark)
    runners = [_Runner(variant, variant_inputs, *settings), _Runner(baseline, baseline_inputs, *settings)]
    readings: list[list[list[float]]] = [[], []]
    calls = [0, 0]
    with runners[0].settings():
        peaks = []
        for runner in runners:
            runner.warm_up(warmup_time)
            peaks.append(runner.peak_memory())
        for r in range(rounds):
            order = (0, 1) if r % 2 == 0 else (1, 0)
            for i in order:
                times, calls[i] = runners[i].readings(round_time, round_time * 4, adaptive=False)
                readings[i].append(times)
    timings = [runner.timing([t for block in per_round for t in block], n, peak)
               for runner, per_round, n, peak in zip(runners, readings, calls, peaks)]
    round_medians = [[float(np.median(block)) for block in per_round] for per_round in readings]
    return compare_readings(timings[0], timings[1], round_medians[0], round_medians[1], alpha, min_effect)


def compare_readings(variant: Timing, baseline: Timing, variant_rounds: list[float],
                     baseline_rounds: list[float], alpha: float = 0.01,
                     min_effect: float = 0.05) -> Comparison:
    """The statistics of a comparison, from two timings and their per-round medians (paired by round)."""
    from scipy.stats import mannwhitneyu

    round_ratios = [v / b for v, b in zip(variant_rounds, baseline_rounds)]
    ratio = variant.median_ms / baseline.median_ms
    p_value = float(mannwhitneyu(variant_rounds, baseline_rounds, alternative="two-sided").pvalue)
    low, high = np.percentile(round_ratios, [25, 75])
    return Comparison(
        variant=variant, baseline=baseline, ratio=ratio, ratio_low=float(low), ratio_high=float(high),
        round_ratios=round_ratios, p_value=p_value,
        significant=p_value < alpha and abs(ratio - 1) >= min_effect,
        rounds=len(round_ratios), alpha=alpha, min_effect=min_effect,
    )
