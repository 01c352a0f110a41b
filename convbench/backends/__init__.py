"""Runtimes a module can be timed on: eager PyTorch, ``torch.compile``, ONNX Runtime, OpenVINO and
ExecuTorch (XNNPACK).

Each backend turns a prepared module (on its device, in its dtype, in ``eval()``) and its inputs
into a zero-argument call, doing its one-off work first (export, compilation, a first call that
covers lazy initialisation), so a timing reads only inference. Every backend runs with the thread
count the timing asks for. A runtime that is not installed raises :class:`BackendUnavailable`
naming the extra that brings it; a module a runtime cannot take raises :class:`BackendCannotTake`
naming the runtime and why (an export failure, an unsupported op).

In int8 (post-training static quantization, :mod:`convbench.backends.calibration`) a module runs
on the runtimes in :data:`QUANTIZING`, each with its own quantizer; the others cannot take it.

A backend is named by a spec: the runtime's name, and for ``compile`` an optional mode after a
colon (``compile:max-autotune``); the spec is what rows, case ids and tables carry. Each runtime is
one :class:`~convbench.backends.runtime.Runtime` subclass in a module of its own, registered in
:data:`RUNTIMES`; adding a runtime is that module and one entry there.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn

from convbench.backends.eager import EagerRuntime
from convbench.backends.errors import BackendCannotTake, BackendUnavailable, CannotProfile
from convbench.backends.profiled import OpSpan, RuntimeProfile
from convbench.backends.executorch_runtime import ExecuTorchRuntime
from convbench.backends.onnx_runtime import OnnxRuntime
from convbench.backends.openvino_runtime import OpenVinoRuntime
from convbench.backends.runtime import Runtime, RuntimeFacts
from convbench.backends.torch_compile import CompileRuntime

RUNTIMES: dict[str, type[Runtime]] = {cls.name: cls for cls in (EagerRuntime, CompileRuntime, OnnxRuntime,
                                                                  OpenVinoRuntime, ExecuTorchRuntime)}
BACKENDS = tuple(RUNTIMES)
DEFAULT = EagerRuntime.name  # what every other runtime is held against
COMPILE_MODES = CompileRuntime.options
QUANTIZING = tuple(sorted(name for name, cls in RUNTIMES.items() if cls.quantizes))  # the runtimes with an int8 path
# How far a backend's output may be from eager's, as a share of the largest eager output, per dtype.
TOLERANCE = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 3e-2}

__all__ = ["BACKENDS", "DEFAULT", "QUANTIZING", "RUNTIMES", "TOLERANCE", "BackendCannotTake", "BackendUnavailable",
           "CannotProfile", "OpSpan", "Runtime", "RuntimeProfile", "RuntimeFacts", "canonical", "difference",
           "is_default", "outputs_of", "parse", "prepare", "require", "runtime", "settings", "short_name", "sqnr_db",
           "version"]


def parse(spec: str) -> tuple[str, str | None]:
    """``(runtime, option)`` of a backend spec, e.g. ``compile:max-autotune`` -> ``("compile",
    "max-autotune")``; a ValueError in one line if it names no runtime or an option it lacks."""
    if not isinstance(spec, str):
        raise ValueError(f"backend {spec!r} must be a name, one of {', '.join(BACKENDS)}")
    name, colon, option = spec.partition(":")
    if name not in RUNTIMES:
        raise ValueError(f"backend {spec!r} must be one of {', '.join(BACKENDS)} (compile:MODE for a "
                         f"torch.compile mode)")
    if not colon:
        return name, None
    options = RUNTIMES[name].options
    if not options:
        raise ValueError(f"backend {spec!r}: {name} takes no option (NAME:OPTION is for "
                         f"{', '.join(n for n, cls in RUNTIMES.items() if cls.options)})")
    if option not in options:
        raise ValueError(f"backend {spec!r}: the {name} option must be one of {', '.join(options)}")
    return name, option


def runtime(spec: str) -> Runtime:
    """The runtime a spec names, with its option."""
    name, option = parse(spec)
    return RUNTIMES[name](option)


def canonical(spec: str) -> str:
    """The one spelling of a backend spec (``compile:default`` is ``compile``)."""
    return runtime(spec).spec


def is_default(spec: str) -> bool:
    """Whether ``spec`` is the runtime every other one is held against (eager PyTorch)."""
    return spec == DEFAULT


def short_name(spec: str) -> str:
    """A narrow table's heading for a runtime (a spec this version does not know reads as itself)."""
    try:
        found = runtime(spec)
    except ValueError:
        return str(spec)
    return found.short_name + (f":{found.option}" if found.option not in (None, found.default_option) else "")


def require(spec: str, precision: str = "float32") -> None:
    """Raise :class:`BackendUnavailable` unless ``spec``'s runtime can run here (in ``precision``)."""
    runtime(spec).require(precision)


def version(spec: str) -> str:
    """The runtime's name and version, as recorded with each run."""
    return runtime(spec).version()


def settings(spec: str, threads: int | None) -> dict:
    """How the runtime is configured for a timing at ``threads`` threads, as recorded with each run."""
    return runtime(spec).settings(threads or torch.get_num_threads())


def prepare(spec: str, model: nn.Module, inputs: tuple[torch.Tensor, ...], threads: int,
            device: torch.device, precision: str = "float32") -> Callable[[], Any]:
    """A zero-argument call running ``model(*inputs)`` on the backend, its one-off work done (see
    :class:`Runtime`). With ``precision`` ``"int8"`` the float32 ``model`` is quantized by the
    runtime's own quantizer first."""
    found = runtime(spec)
    if precision == "int8" and not found.quantizes:
        raise BackendCannotTake(f"{found.name} cannot take it: int8 runs on {', '.join(QUANTIZING)} here")
    return found.prepare(model, inputs, threads, device, precision)


def outputs_of(value) -> list[torch.Tensor]:
    """Every tensor of an output (a tensor, or nested tuples / lists / mappings of them, as
    runtimes return them), as CPU float64."""
    if hasattr(value, "values") and callable(value.values) and not isinstance(value, torch.Tensor):
        value = list(value.values())  # OpenVINO's results, by output
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in outputs_of(item)]
    if not isinstance(value, torch.Tensor) and callable(getattr(value, "numpy", None)):
        value = value.numpy()  # an ONNX Runtime OrtValue
    tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
    return [tensor.detach().to("cpu", torch.float64)]


def _paired(reference, output) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The tensors of two outputs, as CPU float64; a ValueError if their shapes differ."""
    refs, outs = outputs_of(reference), outputs_of(output)
    if len(refs) != len(outs) or any(r.shape != o.shape for r, o in zip(refs, outs)):
        raise ValueError(f"output shapes differ: {[tuple(r.shape) for r in refs]} vs {[tuple(o.shape) for o in outs]}")
    return refs, outs


def sqnr_db(reference, output) -> float:
    """Signal-to-quantization-noise ratio of ``output`` against ``reference``, in dB, over every
    tensor in them: 10 log10(sum ref^2 / sum (ref - out)^2); inf where they are equal."""
    refs, outs = _paired(reference, output)
    signal = sum(float(r.pow(2).sum()) for r in refs)
    noise = sum(float((r - o).pow(2).sum()) for r, o in zip(refs, outs))
    if noise == 0:
        return math.inf
    return 10 * math.log10(signal / noise) if signal else -math.inf


def difference(reference, output) -> tuple[float, float]:
    """(largest absolute difference, that over the largest absolute reference value) between two
    outputs, over every tensor in them; a ValueError if their shapes differ."""
    refs, outs = _paired(reference, output)
    largest = max(float(r.abs().max()) if r.numel() else 0.0 for r in refs)
    worst = max(float((r - o).abs().max()) if r.numel() else 0.0 for r, o in zip(refs, outs))
    return worst, worst / largest if largest else worst
