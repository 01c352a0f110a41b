"""Runtimes a module can be timed on: eager PyTorch, ``torch.compile``, ONNX Runtime and OpenVINO.

Each backend turns a prepared module (on its device, in its dtype, in ``eval()``) and its inputs
into a zero-argument call, doing its one-off work first (export, compilation, a first call that
covers lazy initialisation), so a timing reads only inference. Every backend runs with the thread
count the timing asks for. A runtime that is not installed raises :class:`BackendUnavailable`
naming the extra that brings it; a module a runtime cannot take raises :class:`BackendCannotTake`
naming the runtime and why (an export failure, an unsupported op).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import torch
from torch import nn

BACKENDS = ("eager", "compile", "onnxruntime", "openvino")
MODULES = {"compile": "torch_compile", "onnxruntime": "onnx_runtime", "openvino": "openvino_runtime"}
# How far a backend's output may be from eager's, as a share of the largest eager output, per dtype.
TOLERANCE = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 3e-2}


class BackendUnavailable(ImportError):
    """The runtime is not installed (or cannot run here): one line naming what to install."""


class BackendCannotTake(ValueError):
    """The runtime cannot take this module: one line naming the runtime and the reason."""


def _module(name: str):
    if name not in BACKENDS:
        raise ValueError(f"backend {name!r} must be one of {', '.join(BACKENDS)}")
    return importlib.import_module(f"convbench.backends.{MODULES[name]}") if name in MODULES else None


def require(name: str) -> None:
    """Raise :class:`BackendUnavailable` unless ``name`` can run here."""
    module = _module(name)
    if module is not None:
        module.require()


def version(name: str) -> str:
    """The runtime's name and version, as recorded with each run."""
    module = _module(name)
    return f"eager PyTorch {torch.__version__}" if module is None else module.version()


def prepare(name: str, model: nn.Module, inputs: tuple[torch.Tensor, ...], threads: int,
            device: torch.device) -> Callable[[], Any]:
    """A zero-argument call running ``model(*inputs)`` on the backend, its one-off work done."""
    module = _module(name)
    if module is None:
        return lambda: model(*inputs)
    require(name)
    call = module.prepare(model, inputs, threads, device)
    call()
    return call


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


def difference(reference, output) -> tuple[float, float]:
    """(largest absolute difference, that over the largest absolute reference value) between two
    outputs, over every tensor in them; a ValueError if their shapes differ."""
    refs, outs = outputs_of(reference), outputs_of(output)
    if len(refs) != len(outs) or any(r.shape != o.shape for r, o in zip(refs, outs)):
        raise ValueError(f"output shapes differ: {[tuple(r.shape) for r in refs]} vs {[tuple(o.shape) for o in outs]}")
    largest = max(float(r.abs().max()) if r.numel() else 0.0 for r in refs)
    worst = max(float((r - o).abs().max()) if r.numel() else 0.0 for r, o in zip(refs, outs))
    return worst, worst / largest if largest else worst
