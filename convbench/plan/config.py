"""What a suite is: the workloads (layer shapes, networks), variants, devices and timing a config
asks for, and the cases they make. :mod:`convbench.plan.loading` reads them from YAML."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from convbench.models.inputs import InputSpec
from convbench.registry import LayerShape
from convbench.timing.contention import THRESHOLD
from convbench.timing.settings import TimingSettings
from convbench.timing.stats import CONFIDENCE, MARGIN

DEVICES = ("cpu", "cuda", "auto")
SHAPE_KEYS = ("batch", "in_channels", "out_channels", "kernel_size", "stride", "size", "height", "width")
MAX_CASES = 10_000  # shapes x devices x variants a config may queue unless raised (--max-cases)
MIN_SPAN = 20.0  # seconds a session's rounds are spread over by default (docs: findings/trust.md)
MIN_ROUNDS = 5  # fewer rounds give a t interval too wide to decide most comparisons
ON_CONTENTION = ("mark", "retry", "fail")
TOP_KEYS = ("name", "description", "baseline", "devices", "backends", "dtype", "memory_format", "timing", "shapes",
            "sweep", "models", "variants")
MODEL_KEYS = ("name", "batch", "size", "input", "kwargs", "where", "skip_unfit")
WHERE_KEYS = ("min_kernel", "max_kernel", "groups")


class ConfigError(ValueError):
    """A problem in a config, located: ``file:line: field: what is wrong and what would be valid``."""


@dataclass(frozen=True)
class Shape(LayerShape):
    """A drop-in ``Conv2d(in_channels, out_channels, kernel_size, stride)`` on ``batch x in x H x W``."""

    batch: int = 1

    @property
    def label(self) -> str:
        return (f"{self.in_channels}->{self.out_channels}, k={self.kernel_size}, s={self.stride}, "
                f"{self.batch}x{self.in_channels}x{self.height}x{self.width}")


@dataclass(frozen=True)
class ModelWorkload:
    """A network (a reference one by name, or the user's ``module:callable`` called with
    ``kwargs``) on ``batch x C x H x W`` inputs, one per shape in ``inputs`` (default
    ``3 x size x size``); variants replace the convs that ``where`` selects (see
    :func:`convbench.swap.conv_filter`), leaving those they cannot take unless ``skip_unfit`` is
    false."""

    name: str
    batch: int = 1
    size: int = 224
    where: tuple[tuple[str, Any], ...] = ()
    kwargs_json: str = "{}"  # the callable's keyword arguments, as JSON so the workload stays hashable
    inputs: tuple[tuple[int, ...], ...] = ()
    skip_unfit: bool = True
    root: str = ""  # where a file.py entry's relative path starts (its config's directory); not in case ids
    specs: tuple[InputSpec, ...] = ()  # inputs given with a dtype, a batch_dim or a name (else float, batch first)

    @property
    def kwargs(self) -> dict[str, Any]:
        return json.loads(self.kwargs_json)

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        return self.inputs or ((3, self.size, self.size),)

    @property
    def input_specs(self) -> tuple[InputSpec, ...]:
        return self.specs or tuple(InputSpec(shape) for shape in self.input_shapes)


    @property
    def label(self) -> str:
        rule = f", where {', '.join(f'{k}={v}' for k, v in self.where)}" if self.where else ""
        shapes = " + ".join(spec.label(self.batch) for spec in self.input_specs)
        arguments = ", ".join(f"{k}={v}" for k, v in self.kwargs.items())
        return f"{self.name}{f'({arguments})' if arguments else ''} @ {shapes}{rule}"


@dataclass(frozen=True)
class VariantRequest:
    """A variant name and the parameters the config gives it."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.params)})"


@dataclass
class SuiteTiming:
    """A config's ``timing:`` block: how long and in how many rounds each session is read, under
    which settings, and what is done with a contended or unstable session.

    ``min_time`` is the seconds each module is read for in all, over ``rounds`` interleaved rounds
    and ``processes`` worker processes; the rounds start at least ``min_span / rounds`` seconds
    apart, so they sample the machine over ``min_span`` seconds. ``threads`` is one count (None:
    torch's) or a list of counts, each timed as its own case in the same session.
    ``on_contention`` is ``mark``, ``retry`` (up to ``retries`` times) or ``fail`` above
    ``contention_threshold`` cores, and ``on_instability`` the same for a session in which the
    state probe saw the machine change state (:mod:`convbench.timing.states`); ``confidence``
    and ``margin`` are the statistics' (:mod:`convbench.timing.stats`). On CUDA, ``cudnn_benchmark``
    lets cuDNN pick its fastest algorithm, and ``tf32`` (None: torch's defaults) lets float32 convs
    and matmuls run in TF32 on GPUs that have it. ``profile`` reads each timed float32 case with its
    runtime's profiler after the timing (:mod:`convbench.profiling`): per-op latency beside per-op MACs.
    """

    min_time: float = 0.5
    rounds: int = 10
    threads: int | None | tuple[int, ...] = None
    training: bool = False
    cold: bool = False
    warmup_time: float = 0.05
    processes: int = 1
    on_contention: str = "mark"
    retries: int = 2
    contention_threshold: float = THRESHOLD
    confidence: float = CONFIDENCE
    margin: float = MARGIN
    min_span: float = MIN_SPAN
    on_instability: str = "mark"
    cudnn_benchmark: bool = True
    tf32: bool | None = None
    optimizer: str | None = None
    profile: bool = False

    @property
    def thread_counts(self) -> list[int | None]:
        """The thread counts every case is timed at: one, or each of a list."""
        return list(self.threads) if isinstance(self.threads, (list, tuple)) else [self.threads]

    def settings(self, device: str, dtype: str, memory_format: str, threads: int | None = None) -> TimingSettings:
        """How a module of a session on ``device`` is prepared and read (at ``threads``, one of
        :attr:`thread_counts`; the only one by default)."""
        return TimingSettings(device=device, dtype=dtype, memory_format=memory_format, training=self.training,
                              threads=threads if threads is not None else self.thread_counts[0],
                              warmup_time=self.warmup_time, cold=self.cold and device.startswith("cuda"),
                              cudnn_benchmark=self.cudnn_benchmark, tf32=self.tf32,
                              optimizer=self.optimizer if self.training else None)


@dataclass
class Suite:
    name: str
    baseline: VariantRequest
    devices: list[str]
    dtype: str
    memory_format: str
    timing: SuiteTiming
    shapes: list[Shape]
    variants: list[VariantRequest]
    models: list[ModelWorkload] = field(default_factory=list)
    source: str = "<config>"
    description: str = ""
    backends: list[str] = field(default_factory=lambda: ["eager"])
    dtypes: list[str] = field(default_factory=list)  # several precisions timed side by side; empty: dtype alone

    @property
    def precisions(self) -> list[str]:
        """The precisions every case is timed in: ``dtype``, or each of ``dtypes``."""
        return self.dtypes or [self.dtype]


def precision_problem(precisions: list[str], backend_names: list[str], training: bool) -> str | None:
    """Why these precisions cannot be timed on these runtimes, or None: int8 is post-training
    quantized inference, on a runtime that quantizes."""
    from convbench.backends import QUANTIZING, parse

    if "int8" not in precisions:
        return None
    if training:
        return "int8 is post-training quantized inference; drop it or timing.training"
    if not any(parse(name)[0] in QUANTIZING for name in backend_names):
        return f"int8 runs on {', '.join(QUANTIZING)}: add one of them to backends (or --backend)"
    return None


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
