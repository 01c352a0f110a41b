"""ONNX Runtime: the module exported to ONNX once (TorchScript exporter, or the dynamo exporter
when that one cannot trace it), then run by an ``InferenceSession`` as its documentation tunes one
for latency: every graph optimisation, ``threads`` intra-op threads, sequential execution, one
inter-op thread, and its default spinning thread pool. Inputs and outputs are bound once where they
are (host memory, or GPU memory through the CUDA execution provider), so a call is one
``run_with_iobinding``. In int8 the exported model is quantized to QDQ first
(:mod:`convbench.backends.onnx_int8`). Needs the ``onnx`` extra."""

from __future__ import annotations

import importlib.util
import io
import logging
import warnings

import torch

from convbench.backends.errors import BackendCannotTake, BackendUnavailable, CannotProfile, first_line
from convbench.backends.runtime import Runtime, RuntimeFacts

EXTRA = "pip install 'convbench[onnx]'"


def require() -> None:
    if not all(importlib.util.find_spec(package) for package in ("onnx", "onnxscript", "onnxruntime")):
        raise BackendUnavailable(f"backend onnxruntime needs the onnx extra (onnx, onnxscript, onnxruntime): "
                                 f"{EXTRA}")


def settings(threads: int) -> dict:
    """What each session is configured with (:func:`_options` sets it)."""
    return {"graph_optimization_level": "ORT_ENABLE_ALL", "intra_op_num_threads": threads,
            "inter_op_num_threads": 1, "execution_mode": "ORT_SEQUENTIAL",
            "session.intra_op.allow_spinning": "1 (default)", "call": "run_with_iobinding, inputs bound once"}


def _options(threads: int):
    """The session options :func:`settings` describes."""
    import onnxruntime as ort

    described = settings(threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = described["intra_op_num_threads"]
    options.inter_op_num_threads = described["inter_op_num_threads"]
    options.execution_mode = getattr(ort.ExecutionMode, described["execution_mode"])
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, described["graph_optimization_level"])
    return options


def version() -> str:
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__}"


def export(model, inputs) -> bytes:
    """The module as an ONNX model; a BackendCannotTake naming what stopped both exporters."""
    names = [f"input{i}" for i in range(len(inputs))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            buffer = io.BytesIO()
            torch.onnx.export(model, tuple(inputs), buffer, dynamo=False, opset_version=17, input_names=names)
            return buffer.getvalue()
        except Exception as first:
            quiet = logging.getLogger("torch.onnx")  # its notes on optional torchvision ops are not ours
            level = quiet.level
            quiet.setLevel(logging.ERROR)
            try:
                program = torch.onnx.export(model, tuple(inputs), dynamo=True, verbose=False)
                return program.model_proto.SerializeToString()
            except Exception as second:
                raise BackendCannotTake(
                    f"onnxruntime cannot take it: ONNX export failed ({type(first).__name__}: "
                    f"{first_line(first)}; dynamo exporter: "
                    f"{type(second).__name__}: {first_line(second)})") from None
            finally:
                quiet.setLevel(level)


def prepare(model, inputs, threads, device):
    return _session_call(export(model, inputs), inputs, threads, device)


def prepare_int8(model, inputs, threads, device):
    from convbench.backends import onnx_int8
    from convbench.backends.calibration import report

    if device.type != "cpu":
        raise BackendCannotTake(f"onnxruntime cannot take it in int8: QDQ models run on its CPU provider here, "
                                f"not {device.type}")
    try:
        model_bytes = onnx_int8.quantized(export(model, inputs), inputs)
    except BackendCannotTake:
        raise
    except Exception as error:
        raise BackendCannotTake(f"onnxruntime cannot take it in int8: quantize_static failed ({type(error).__name__}: "
                                f"{first_line(error)})") from None
    call = _session_call(model_bytes, inputs, threads, device)
    call.report = RuntimeFacts(**report(onnx_int8.scheme()))
    return call


def _session_call(model_bytes: bytes, inputs, threads, device, options=None):
    import onnxruntime as ort

    if any(t.dtype == torch.bfloat16 for t in inputs):
        raise BackendCannotTake("onnxruntime cannot take it: bfloat16 inputs (numpy has no bfloat16)")
    options = options or _options(threads)
    providers = ([("CUDAExecutionProvider", {"device_id": device.index or 0})] if device.type == "cuda"
                 else ["CPUExecutionProvider"])
    if device.type == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise BackendCannotTake("onnxruntime cannot take it: this onnxruntime has no CUDA execution provider "
                                "(install onnxruntime-gpu)")
    try:
        session = ort.InferenceSession(model_bytes, options, providers=providers)
    except BackendCannotTake:
        raise
    except Exception as error:  # an op the runtime lacks, a dtype it cannot run
        raise BackendCannotTake(f"onnxruntime cannot take it: {type(error).__name__}: "
                                f"{first_line(error)}") from None
    return _bound_call(session, [i.name for i in session.get_inputs()], inputs, device)


def _bound_call(session, names, inputs, device):
    """A call with its inputs bound once, where they already are (host or GPU memory), and its
    outputs left on the device: no copies in the timed region."""
    import onnxruntime as ort

    binding = session.io_binding()
    kept = [t.detach().contiguous() for t in inputs]  # the bound memory must outlive the session's use
    values = []
    for name, t in zip(names, kept):
        if device.type == "cuda":
            binding.bind_input(name, "cuda", device.index or 0, _numpy_dtype(t), list(t.shape), t.data_ptr())
        else:
            value = ort.OrtValue.ortvalue_from_numpy(t.numpy())  # wraps the array's memory, no copy
            binding.bind_ortvalue_input(name, value)
            values.append(value)
    for output in session.get_outputs():
        binding.bind_output(output.name, device.type, device.index or 0)

    def call():
        session.run_with_iobinding(binding)
        return binding.get_outputs()

    call.input_pointers = lambda: [v.data_ptr() for v in values] if values else [t.data_ptr() for t in kept]
    call.inputs, call.session = kept, session
    call()  # lazy initialisation, before any timing
    return call


def _numpy_dtype(t: torch.Tensor):
    import numpy as np

    return {torch.float32: np.float32, torch.float16: np.float16}.get(t.dtype, np.float32)


class OnnxRuntime(Runtime):
    name = "onnxruntime"
    short_name = "ORT"
    quantizes = True
    cuda_clock = "sync"  # it waits for its own stream every call: so is it read
    packages = ("onnx", "onnxruntime")

    def require(self, precision="float32"):
        require()

    version = staticmethod(version)
    settings = staticmethod(settings)
    prepare_float = staticmethod(prepare)
    prepare_int8 = staticmethod(prepare_int8)

    def profile(self, model, inputs, threads, device, calls=20, warmup=3):
        from convbench.backends import onnx_profiling

        self.require()
        if device.type != "cpu":
            raise CannotProfile(f"onnxruntime per-op profiling is read on its CPU provider here, not {device.type}")
        model_bytes = export(model, inputs)
        return onnx_profiling.profile(lambda options: _session_call(model_bytes, inputs, threads, device, options),
                                      _options(threads), calls, warmup)
