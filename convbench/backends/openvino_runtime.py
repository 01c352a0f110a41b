"""OpenVINO: the module converted once (``openvino.convert_model`` from PyTorch) and compiled for
its CPU plugin with ``INFERENCE_NUM_THREADS`` threads, one stream, the latency hint and the
dtype's own precision (OpenVINO would otherwise compute float32 models in bfloat16 on CPUs that
have it). Its GPU plugin is for Intel GPUs, so on a CUDA device it cannot take a module. Needs the
``openvino`` extra."""

from __future__ import annotations

import importlib.util
import warnings

import torch

from convbench.backends import BackendCannotTake, BackendUnavailable

PRECISION = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}


def require() -> None:
    if importlib.util.find_spec("openvino") is None:
        raise BackendUnavailable("backend openvino needs the openvino extra: pip install 'convbench[openvino]'")


def version() -> str:
    import openvino

    return f"openvino {openvino.__version__.split('-')[0]}"


def prepare(model, inputs, threads, device):
    import openvino as ov

    if device.type != "cpu":
        raise BackendCannotTake(f"openvino cannot take it: it runs on the CPU here, not {device.type}")
    dtype = inputs[0].dtype
    if dtype == torch.bfloat16:
        raise BackendCannotTake("openvino cannot take it: bfloat16 inputs (numpy has no bfloat16)")
    config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_PRECISION_HINT": PRECISION.get(dtype, "f32")}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = ov.convert_model(model, example_input=tuple(inputs))
        compiled = ov.Core().compile_model(converted, "CPU", config)
    except Exception as error:
        raise BackendCannotTake(f"openvino cannot take it: {type(error).__name__}: "
                                f"{str(error).strip().splitlines()[0] if str(error).strip() else ''}") from None
    request = compiled.create_infer_request()
    arrays = [t.detach().contiguous().numpy() for t in inputs]
    # Shared, not copied: OpenVINO reads the inputs and hands back its outputs in place, as eager does.
    return lambda: request.infer(arrays, share_inputs=True, share_outputs=True)
