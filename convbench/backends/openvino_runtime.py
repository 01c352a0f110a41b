"""OpenVINO: the module converted once (``openvino.convert_model`` from PyTorch) with its inputs'
own static shapes, and compiled for its CPU plugin as ``benchmark_app`` runs it for latency:
:data:`SETTINGS` (``threads`` inference threads, one stream, the latency hint, threads pinned to
cores) and the dtype's own precision (OpenVINO would otherwise compute float32 models in bfloat16
on CPUs that have it). The inputs are set on the request once, sharing the tensors' memory, so a
call is one synchronous ``infer()``. Its GPU plugin is for Intel GPUs, so on a CUDA device it
cannot take a module. In int8 the converted model is quantized by NNCF first
(:mod:`convbench.backends.openvino_int8`). Needs the ``openvino`` extra (and ``nncf`` for int8)."""

from __future__ import annotations

import contextlib
import importlib.util
import time
import warnings

import psutil
import torch

from convbench.backends.errors import BackendCannotTake, BackendUnavailable, CannotProfile, first_line
from convbench.backends.runtime import Runtime, RuntimeFacts

PRECISION = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
QUIET_S = 0.3
SETTINGS = {"NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": True}


def settings(threads: int) -> dict:
    """What the CPU plugin is configured with (the precision hint follows the dtype)."""
    return {"INFERENCE_NUM_THREADS": threads, **SETTINGS, "INFERENCE_PRECISION_HINT": "the dtype's (f32, f16)",
            "input shapes": "static (the case's)", "call": "infer() on inputs set once, shared"}


def require() -> None:
    if importlib.util.find_spec("openvino") is None:
        raise BackendUnavailable("backend openvino needs the openvino extra: pip install 'convbench[openvino]'")


def require_int8() -> None:
    require()
    if importlib.util.find_spec("nncf") is None:
        raise BackendUnavailable("openvino in int8 needs nncf, in the openvino extra: "
                                 "pip install 'convbench[openvino]'")


def version() -> str:
    import openvino

    return f"openvino {openvino.__version__.split('-')[0]}"


@contextlib.contextmanager
def _children_finished(seconds: float = 10.0):
    """Wait, up to ``seconds``, for the child processes started inside the block to end:
    ``convert_model`` and ``compile_model`` send usage statistics (OpenVINO's telemetry) from child
    processes, 4-6 of them, some started from a thread after the call returns, that run for about a
    second and would take the CPU from the first readings. Done once no new child has been seen
    for :data:`QUIET_S`."""
    me = psutil.Process()
    before = {child.pid for child in me.children(recursive=True)}
    try:
        yield
    finally:
        deadline, quiet_since = time.monotonic() + seconds, None
        while time.monotonic() < deadline:
            new = [child for child in me.children(recursive=True) if child.pid not in before]
            if new:
                quiet_since = None
                psutil.wait_procs(new, timeout=max(min(deadline - time.monotonic(), 1.0), 0))
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= QUIET_S:
                break  # not return: a return here would swallow the block's exception
            time.sleep(0.02)


def prepare(model, inputs, threads, device):
    if device.type != "cpu":
        raise BackendCannotTake(f"openvino cannot take it: it runs on the CPU here, not {device.type}")
    dtype = inputs[0].dtype
    if dtype == torch.bfloat16:
        raise BackendCannotTake("openvino cannot take it: bfloat16 inputs (numpy has no bfloat16)")
    return _compiled_call(_converted(model, inputs), inputs, threads, PRECISION.get(dtype, "f32"))


def prepare_int8(model, inputs, threads, device):
    from convbench.backends import openvino_int8
    from convbench.backends.calibration import report

    if device.type != "cpu":
        raise BackendCannotTake(f"openvino cannot take it: it runs on the CPU here, not {device.type}")
    converted = _converted(model, inputs)
    try:
        with _children_finished():
            quantized = openvino_int8.quantized(converted, inputs)
    except Exception as error:
        raise BackendCannotTake(f"openvino cannot take it in int8: nncf.quantize failed ({type(error).__name__}: "
                                f"{first_line(error)})") from None
    call = _compiled_call(quantized, inputs, threads, "f32")  # quantized ops run in int8 whatever the hint
    call.report = RuntimeFacts(**report(openvino_int8.SCHEME))
    return call


def _converted(model, inputs):
    """The module as an OpenVINO model with its inputs' static shapes."""
    import openvino as ov

    try:
        with warnings.catch_warnings(), _children_finished():
            warnings.simplefilter("ignore")
            return ov.convert_model(model, example_input=tuple(inputs), input=[tuple(t.shape) for t in inputs])
    except Exception as error:
        raise BackendCannotTake(f"openvino cannot take it: {type(error).__name__}: {first_line(error)}") from None


def _compiled_call(converted, inputs, threads, precision: str, extra: dict | None = None):
    """A call of ``converted`` compiled for the CPU plugin with :data:`SETTINGS` and
    ``precision`` (an ``INFERENCE_PRECISION_HINT``), on inputs set once; ``extra`` adds to the
    configuration (the profiler's ``PERF_COUNT``)."""
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": threads, **SETTINGS, "INFERENCE_PRECISION_HINT": precision, **(extra or {})}
    try:
        with warnings.catch_warnings(), _children_finished():
            warnings.simplefilter("ignore")
            compiled = ov.Core().compile_model(converted, "CPU", config)
    except Exception as error:
        raise BackendCannotTake(f"openvino cannot take it: {type(error).__name__}: {first_line(error)}") from None
    request = compiled.create_infer_request()
    kept = [t.detach().contiguous() for t in inputs]  # the shared memory must outlive the request's use
    for i, t in enumerate(kept):
        request.set_input_tensor(i, ov.Tensor(t.numpy(), shared_memory=True))

    def call():
        return request.infer(share_outputs=True)

    call.input_pointers = lambda: [request.get_input_tensor(i).data.ctypes.data for i in range(len(kept))]
    call.inputs, call.compiled = kept, compiled
    call()  # lazy initialisation, before any timing
    return call


class OpenVinoRuntime(Runtime):
    name = "openvino"
    short_name = "OV"
    quantizes = True
    packages = ("openvino", "nncf")

    def require(self, precision="float32"):
        require_int8() if precision == "int8" else require()

    version = staticmethod(version)
    settings = staticmethod(settings)
    prepare_float = staticmethod(prepare)
    prepare_int8 = staticmethod(prepare_int8)

    def profile(self, model, inputs, threads, device, calls=20, warmup=3):
        from convbench.backends import openvino_profiling

        self.require()
        if device.type != "cpu":
            raise CannotProfile(f"openvino runs on the CPU here, not {device.type}")
        call = _compiled_call(_converted(model, inputs), inputs, threads, PRECISION.get(inputs[0].dtype, "f32"),
                              openvino_profiling.PROFILING)
        return openvino_profiling.profile(call, calls, warmup)
