"""The timer: one prepared module call, read on CPU or CUDA.

CPU: ``torch.utils.benchmark.Timer`` (block size chosen so timer overhead is negligible;
``adaptive_autorange`` repeats blocks until IQR / median < 10 % or the time budget runs out), with
the thread count fixed, the module in ``eval()`` under ``torch.inference_mode()``, an explicit
warm-up, and the C allocator keeping freed memory (see :mod:`convbench.timing.allocator`).

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

from convbench import backends
from convbench.timing.allocator import retain_freed_memory
from convbench.timing.contention import Contention, Probe
from convbench.timing.memory import cpu_peak_bytes
from convbench.timing.settings import MEMORY_FORMATS, TimingSettings, tf32_flags

__all__ = ["PreparedCall", "Timing", "benchmark", "check_runs"]

NOISY = 0.10  # IQR / median above this marks a timing as noisy (as torch.utils.benchmark warns)


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
    clock: str = "cpu"  # what read it: cpu, or on CUDA events or sync (synchronised wall clock)
    tf32: dict | None = None

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


class PreparedCall:
    """One module on one device, prepared once under :class:`TimingSettings`: a zero-argument
    call to time, and what it takes to read it."""

    def __init__(self, module: nn.Module, inputs, settings: TimingSettings):
        if not inputs or any(not isinstance(t, torch.Tensor) or t.numel() == 0 for t in inputs):
            raise ValueError("inputs must be non-empty tensors (batch, channels and sizes >= 1), e.g. "
                             "torch.randn(1, 64, 56, 56)")
        self.device = torch.device(settings.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' but torch.cuda.is_available() is False")
        if settings.cold and self.device.type != "cuda":
            raise ValueError("cold=True (L2 flush) applies to CUDA only")
        self.backend = settings.backend
        self.is_cuda = self.device.type == "cuda"
        self.dtype, self.memory_format, self.training = settings.dtype, settings.memory_format, settings.training
        self.forward_alone = settings.forward_alone
        self.threads = settings.threads or torch.get_num_threads()
        self.cuda_timer, self.cold, self.cudnn_benchmark = settings.cuda_timer, settings.cold, settings.cudnn_benchmark
        self.tf32 = settings.tf32
        self.warmup_time = settings.warmup_time
        self.seconds_per_call: float | None = None
        self.allocator = "torch CUDA caching allocator" if self.is_cuda else retain_freed_memory()

        self.runtime = backends.runtime(self.backend)
        if self.is_cuda and self.runtime.cuda_clock:
            self.cuda_timer = self.runtime.cuda_clock

        layout = MEMORY_FORMATS[self.memory_format]
        dtype = settings.tensor_dtype
        with self.on_device():
            model = copy.deepcopy(module).to(self.device, dtype).train(self.training)
            if layout is torch.channels_last:
                model = model.to(memory_format=layout)
            xs = tuple(_prepare_input(t, self.device, dtype, layout, self.training and settings.input_grad)
                       for t in inputs)
            self.model, self.inputs = model, xs  # what the call reads, prepared outside it
            if self.training and settings.forward_alone:
                self.call = lambda: model(*xs)
            elif self.training:
                self.call = _training_step(model, xs, settings.optimizer)
            else:
                saved = torch.get_num_threads()
                torch.set_num_threads(self.threads)
                try:
                    with torch.no_grad():
                        self.call = backends.prepare(self.backend, model, xs, self.threads, self.device, self.dtype)
                finally:
                    torch.set_num_threads(saved)

    def on_device(self):
        """The case's own CUDA device made current (events, streams and synchronisation follow
        the current device); nothing on the CPU."""
        return torch.cuda.device(self.device) if self.is_cuda else contextlib.nullcontext()

    @property
    def torch_allocates(self) -> bool:
        """Whether torch's allocator sees the call's memory (not so for ONNX Runtime or OpenVINO)."""
        return self.runtime.torch_allocates

    @property
    def gpu_index(self) -> int | None:
        """The CUDA device's index, for the contention probe; None on the CPU."""
        return (self.device.index or 0) if self.is_cuda else None

    @property
    def method(self) -> str:
        return self.runtime.timing_method(self.is_cuda, self.device, self._cuda_method() if self.is_cuda else "")

    def _cuda_method(self) -> str:
        if self.cuda_timer == "sync" and not self.torch_allocates:
            return "torch.utils.benchmark (synchronised); the runtime waits for its own stream every call"
        if self.cuda_timer == "sync":
            return "torch.utils.benchmark (synchronised)"
        return "CUDA events, L2 flushed" if self.cold else "CUDA events"

    @contextlib.contextmanager
    def settings(self):
        """The case's device, grad mode, threads and cuDNN flags for the duration of a measurement."""
        grad = contextlib.nullcontext() if self.training else torch.inference_mode()
        saved_threads, saved_cudnn = torch.get_num_threads(), torch.backends.cudnn.benchmark
        saved_tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.set_num_threads(self.threads)
        torch.backends.cudnn.benchmark = self.cudnn_benchmark
        if self.is_cuda and self.tf32 is not None:
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = self.tf32
        try:
            with self.on_device(), grad:
                yield
        finally:
            torch.set_num_threads(saved_threads)
            torch.backends.cudnn.benchmark = saved_cudnn
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved_tf32

    @property
    def tf32_in_force(self) -> dict | None:
        """The TF32 flags a CUDA reading runs under (None on the CPU)."""
        return tf32_flags(self.tf32) if self.is_cuda else None

    def warm_up(self, seconds: float | None = None) -> float:
        """Call until ``seconds`` (the settings' ``warmup_time`` by default) have passed, and at
        least 3 times: lazy initialisation, cuDNN autotuning, allocator growth. Returns the
        estimated seconds per call."""
        seconds = self.warmup_time if seconds is None else seconds
        calls, start = 0, time.perf_counter()
        while calls < 3 or time.perf_counter() - start < seconds:
            self.call()
            calls += 1
            self.sync()
        self.seconds_per_call = (time.perf_counter() - start) / calls
        return self.seconds_per_call

    def peak_memory(self) -> int | None:
        """Memory one call needs on top of what is allocated before it (weights, inputs), as
        torch's allocator counts it (:mod:`convbench.timing.memory`); None for runtimes with
        their own allocator."""
        if not self.torch_allocates:
            return None
        if not self.is_cuda:
            return cpu_peak_bytes(self.call)
        self.sync()
        torch.cuda.reset_peak_memory_stats(self.device)
        before = torch.cuda.memory_allocated(self.device)
        self.call()
        self.sync()
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
        median, iqr, noisy = summary(times)
        return Timing(
            median_ms=median, iqr_ms=iqr, runs=len(times), calls_per_run=calls,
            noisy=noisy, contention=contention, device=str(self.device), dtype=self.dtype,
            memory_format=self.memory_format,
            mode=("training forward" if self.forward_alone else "training") if self.training else "inference",
            method=self.method, threads=self.threads,
            cudnn_benchmark=self.cudnn_benchmark if self.is_cuda else None,
            allocator=self.allocator, peak_memory_bytes=peak_memory, times_ms=list(times), backend=self.backend,
            clock=self.cuda_timer if self.is_cuda else "cpu", tf32=self.tf32_in_force,
        )

    def sync(self) -> None:
        if self.is_cuda:
            torch.cuda.synchronize(self.device)


def _prepare_input(t: torch.Tensor, device, dtype, layout, training: bool) -> torch.Tensor:
    t = t.detach().to(device, dtype if t.is_floating_point() else t.dtype)
    if t.dim() == 4:
        t = t.contiguous(memory_format=layout)
    return t.requires_grad_(training and t.is_floating_point())


def _training_step(model: nn.Module, xs, optimizer: str | None = None) -> Callable[[], None]:
    """Forward + backward, with the output gradients made once, outside the timed call; and the
    optimizer's update and zeroed gradients when one is named."""
    outputs = model(*xs)
    outputs = list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]
    grads = [torch.ones_like(o) for o in outputs]
    update = _optimizer(model, optimizer)

    def step() -> None:
        out = model(*xs)
        torch.autograd.backward(list(out) if isinstance(out, (tuple, list)) else [out], grads)
        if update is not None:
            update.step()
            update.zero_grad(set_to_none=False)

    return step


def _optimizer(model: nn.Module, name: str | None) -> torch.optim.Optimizer | None:
    params = [p for p in model.parameters() if p.requires_grad]
    if name is None or not params:
        return None
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.01, momentum=0.9)
    return torch.optim.Adam(params, lr=0.001)


def _iqr(times) -> float:
    q1, q3 = np.percentile(times, [25, 75])
    return float(q3 - q1)


def benchmark(
    module: nn.Module,
    *inputs: torch.Tensor,
    min_time: float = 0.2,
    max_time: float = 2.0,
    **settings,
) -> Timing:
    """Time ``module(*inputs)``; the module itself is not changed (a prepared copy is timed).

    Readings are taken for at least ``min_time`` seconds and until IQR / median < 10 %, or until
    ``max_time`` seconds. ``settings`` are :class:`TimingSettings`' (``device``, ``dtype``,
    ``memory_format``, ``training``, ``threads`` (torch's current count by default),
    ``warmup_time``, ``cold``, ``cuda_timer``, ``cudnn_benchmark``, ``backend``). The timing's
    ``contention`` says what other processes took meanwhile (:mod:`convbench.timing.contention`).
    ``backend`` runs it on another runtime (:mod:`convbench.backends`), prepared before timing.
    """
    if not (math.isfinite(min_time) and math.isfinite(max_time) and 0 <= min_time <= max_time):
        raise ValueError(f"min_time={min_time} and max_time={max_time} must be finite, 0 <= min_time <= max_time")
    options = TimingSettings(**settings)
    call = PreparedCall(module, inputs, options)
    with call.settings():
        call.warm_up()
        peak = call.peak_memory()
        probe = Probe(call.gpu_index)
        times, calls = call.readings(min_time, max_time, adaptive=True)
        contention = probe.stop()
    return call.timing(times, calls, peak, contention)


def check_runs(module: nn.Module, inputs: tuple[torch.Tensor, ...], settings: TimingSettings | None = None,
               report: dict | None = None, **keywords):
    """Prepare ``module`` as a session would and call it once: raises what timing it would raise
    (an op without a bfloat16 kernel, out of memory, a runtime that cannot take it), so one module
    cannot fail a whole session. Returns that call's output; ``report``, when given, receives what
    the backend's preparation saw (e.g. torch.compile's graph breaks). ``keywords`` are
    :class:`TimingSettings`' when ``settings`` is not given."""
    call = PreparedCall(module, inputs, settings or TimingSettings(**keywords))
    if report is not None:
        report.update(getattr(call.call, "report", backends.RuntimeFacts()).columns())
    with call.settings():
        output = call.call()
        call.sync()
    return output


def summary(times: list[float]) -> tuple[float, float, bool]:
    median, iqr = float(np.median(times)), _iqr(times)
    return median, iqr, median > 0 and iqr / median > NOISY
