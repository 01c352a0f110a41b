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
colon (``compile:max-autotune``); the spec is what rows, case ids and tables carry.
"""

from __future__ import annotations

import importlib
import math
from typing import Any, Callable

import torch
from torch import nn

BACKENDS = ("eager", "compile", "onnxruntime", "openvino", "executorch")
COMPILE_MODES = ("default", "max-autotune", "max-autotune-no-cudagraphs", "reduce-overhead")
MODULES = {"compile": "torch_compile", "onnxruntime": "onnx_runtime", "openvino": "openvino_runtime",
           "executorch": "executorch_runtime"}
QUANTIZING = ("executorch", "onnxruntime", "openvino")  # the runtimes with an int8 path
# How far a backend's output may be from eager's, as a share of the largest eager output, per dtype.
TOLERANCE = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 3e-2}


class BackendUnavailable(ImportError):
    """The runtime is not installed (or cannot run here): one line naming what to install."""


class BackendCannotTake(ValueError):
    """The runtime cannot take this module: one line naming the runtime and the reason."""


def parse(spec: str) -> tuple[str, str | None]:
    """``(runtime, option)`` of a backend spec, e.g. ``compile:max-autotune`` -> ``("compile",
    "max-autotune")``; a ValueError in one line if it names no runtime or an option it lacks."""
    if not isinstance(spec, str):
        raise ValueError(f"backend {spec!r} must be a name, one of {', '.join(BACKENDS)}")
    name, colon, option = spec.partition(":")
    if name not in BACKENDS:
        raise ValueError(f"backend {spec!r} must be one of {', '.join(BACKENDS)} (compile:MODE for a "
                         f"torch.compile mode)")
    if not colon:
        return name, None
    if name != "compile":
        raise ValueError(f"backend {spec!r}: only compile takes an option (compile:MODE)")
    if option not in COMPILE_MODES:
        raise ValueError(f"backend {spec!r}: the compile mode must be one of {', '.join(COMPILE_MODES)}")
    return name, option


def canonical(spec: str) -> str:
    """The one spelling of a backend spec (``compile:default`` is ``compile``)."""
    name, option = parse(spec)
    return name if option in (None, "default") else f"{name}:{option}"


def _module(spec: str):
    name, _ = parse(spec)
    return importlib.import_module(f"convbench.backends.{MODULES[name]}") if name in MODULES else None


def require(spec: str, precision: str = "float32") -> None:
    """Raise :class:`BackendUnavailable` unless ``spec``'s runtime can run here (in ``precision``)."""
    module = _module(spec)
    if module is not None:
        getattr(module, "require_int8", module.require)() if precision == "int8" else module.require()


def version(spec: str) -> str:
    """The runtime's name and version, as recorded with each run."""
    module = _module(spec)
    if module is None:
        return f"eager PyTorch {torch.__version__}"
    option = parse(spec)[1]
    return module.version() + (f", mode {option}" if option else "")


def settings(spec: str, threads: int | None) -> dict:
    """How the runtime is configured for a timing at ``threads`` threads, as recorded with each run."""
    module = _module(spec)
    threads = threads or torch.get_num_threads()
    if module is None:
        return {"threads": threads, "grad": "torch.inference_mode"}
    option = parse(spec)[1]
    return module.settings(threads, option) if option else module.settings(threads)


def prepare(spec: str, model: nn.Module, inputs: tuple[torch.Tensor, ...], threads: int,
            device: torch.device, precision: str = "float32") -> Callable[[], Any]:
    """A zero-argument call running ``model(*inputs)`` on the backend, its one-off work done (the
    backend has called it: lazy initialisation happens before any timing). With ``precision``
    ``"int8"`` the float32 ``model`` is quantized by the runtime's own quantizer first. A
    backend's call may carry ``report`` (what its preparation saw, as row fields) and
    ``input_pointers()`` (the addresses the runtime reads its inputs from)."""
    module = _module(spec)
    if precision == "int8":
        name = parse(spec)[0]
        if name not in QUANTIZING:
            raise BackendCannotTake(f"{name} cannot take it: int8 runs on {', '.join(QUANTIZING)} here")
        require(spec, precision)
        return module.prepare_int8(model, inputs, threads, device)
    if module is None:
        def call():
            return model(*inputs)

        call.input_pointers = lambda: [t.data_ptr() for t in inputs]
        return call
    require(spec)
    option = parse(spec)[1]
    return module.prepare(model, inputs, threads, device, option) if option else module.prepare(model, inputs, threads, device)


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
