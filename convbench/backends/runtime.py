"""What a runtime is to the rest of convbench: one subclass of :class:`Runtime` per runtime, with
the facts other layers ask about it as class attributes, so that nothing outside ``backends/``
tests a runtime's name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from convbench.backends.errors import BackendCannotTake, CannotProfile
from convbench.backends.profiled import RuntimeProfile


@dataclass(frozen=True)
class RuntimeFacts:
    """What a runtime's preparation saw of a module, as the row's columns of the same names: how
    it was quantized (int8), what ExecuTorch's XNNPACK took and left and the threads its pool ran,
    and what torch.compile compiled. A runtime sets the facts it has; the others stay unset."""

    int8_scheme: str | None = None
    int8_calibration: str | None = None
    delegated_ops: int | None = None
    ops_not_delegated: int | None = None
    ops_not_delegated_names: str | None = None
    runtime_threads: int | None = None
    dynamo_graphs: int | None = None
    dynamo_graph_breaks: int | None = None
    dynamo_eager_frames: int | None = None
    dynamo_recompiles: int | None = None

    def columns(self) -> dict[str, Any]:
        return {name: value for name, value in dataclasses.asdict(self).items() if value is not None}


class Runtime:
    """One runtime, with the option its spec gives (``compile:max-autotune`` -> ``max-autotune``).

    ``prepare`` returns a zero-argument call running the module on the runtime with its one-off
    work done (export, compilation, a first call covering lazy initialisation), so that a timing
    reads only inference. A call may carry ``report`` (what preparation saw: :class:`RuntimeFacts`) and
    ``input_pointers()`` (the addresses the runtime reads its inputs from).
    """

    name: ClassVar[str]
    short_name: ClassVar[str]  # a narrow table's heading
    options: ClassVar[tuple[str, ...]] = ()  # what may follow a colon in its spec
    default_option: ClassVar[str | None] = None
    quantizes: ClassVar[bool] = False  # has a post-training int8 path
    trains: ClassVar[bool] = False  # can time a training step
    torch_allocates: ClassVar[bool] = False  # torch's allocator sees the memory its calls use
    process_wide_thread_pool: ClassVar[bool] = False  # one thread count per process at a time
    cuda_clock: ClassVar[str | None] = None  # on CUDA, the clock it must be read by, where not the settings'
    packages: ClassVar[tuple[str, ...]] = ()  # the distributions whose versions a run records

    def __init__(self, option: str | None = None):
        self.option = option

    @property
    def spec(self) -> str:
        """The one spelling of this runtime with its option, as rows and case ids carry it."""
        return self.name if self.option in (None, self.default_option) else f"{self.name}:{self.option}"

    def require(self, precision: str = "float32") -> None:
        """Raise :class:`~convbench.backends.errors.BackendUnavailable` unless it can run here in ``precision``."""

    def version(self) -> str:
        raise NotImplementedError

    def settings(self, threads: int) -> dict[str, Any]:
        """How it is configured for a timing at ``threads`` threads, as recorded with each run."""
        raise NotImplementedError

    def prepare(self, model: nn.Module, inputs: tuple[torch.Tensor, ...], threads: int, device: torch.device,
                precision: str = "float32") -> Callable[[], Any]:
        """The call, in ``precision``: int8 quantizes the float32 ``model`` with the runtime's own quantizer."""
        if precision == "int8":
            if not self.quantizes:
                raise BackendCannotTake(f"{self.name} cannot take it: int8 runs on runtimes that quantize")
            self.require(precision)
            return self.prepare_int8(model, inputs, threads, device)
        self.require(precision)
        return self.prepare_float(model, inputs, threads, device)

    def prepare_float(self, model, inputs, threads: int, device: torch.device) -> Callable[[], Any]:
        raise NotImplementedError

    def prepare_int8(self, model, inputs, threads: int, device: torch.device) -> Callable[[], Any]:
        raise BackendCannotTake(f"{self.name} cannot take it: it has no int8 path")

    def profile(self, model: nn.Module, inputs: tuple[torch.Tensor, ...], threads: int, device: torch.device,
                calls: int = 20, warmup: int = 3) -> RuntimeProfile:
        """Per-op times of ``model(*inputs)`` (float) from the runtime's own profiler, over ``calls``
        calls after ``warmup`` more, on a copy prepared for it: never on a timed call.
        :class:`~convbench.backends.errors.CannotProfile` where it has none."""
        raise CannotProfile(f"{self.name} has no per-op profiler in convbench")

    def timing_method(self, is_cuda: bool, device: torch.device, cuda_method: str) -> str:
        """How a reading of it is taken, in words (``cuda_method``: how the CUDA clock reads)."""
        if not is_cuda:
            return f"{self.version()}, timed as eager is"
        return f"{self.version()} on {device}, {cuda_method}"
