"""ONNX Runtime's int8: the exported float model quantized by ``onnxruntime.quantization``'s
``quantize_static`` in QDQ form (QuantizeLinear / DequantizeLinear pairs around each op, which the
CPU execution provider fuses into integer kernels), int8 per-channel weights, uint8 per-tensor
activations from MinMax calibration on :mod:`convbench.backends.calibration`'s set, after the
shape inference and graph clean-up ``quant_pre_process`` does, as its documentation asks.

On an x86 CPU without VNNI, ONNX Runtime's uint8 x int8 kernels multiply pairs with a 16-bit
saturating add, which overflows with full 8-bit weights: a dense 3 x 3 conv came out at 20 dB SQNR
against float32 on such a CPU (35 dB with 7-bit weights). There the weights are quantized to 7
bits (``reduce_range``), as ONNX Runtime's quantization guide advises for non-VNNI machines."""

from __future__ import annotations

import functools
import logging
import os
import platform
import tempfile

from convbench.backends.calibration import calibration_set

VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@functools.cache
def reduce_range() -> bool:
    """Whether weights get 7 bits: on an x86 CPU whose flags (``/proc/cpuinfo``) name no VNNI."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return False
    try:
        with open("/proc/cpuinfo") as info:
            flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    except OSError:
        return False
    return not any(flag in flags for flag in VNNI_FLAGS)


def scheme() -> str:
    weights = "7-bit (this CPU has no VNNI)" if reduce_range() else "int8"
    return f"QDQ (quantize_static, MinMax): {weights} per-channel weights, uint8 per-tensor activations"


def quantized(model_bytes: bytes, inputs) -> bytes:
    """The int8 QDQ model of the float ONNX model ``model_bytes``, exported from a module called on
    ``inputs``."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    graph = onnx.load_from_string(model_bytes).graph
    constants = {initializer.name for initializer in graph.initializer}
    names = [value.name for value in graph.input if value.name not in constants]

    class Samples(CalibrationDataReader):
        def __init__(self):
            self.samples = iter([dict(zip(names, (t.numpy() for t in sample))) for sample in calibration_set(inputs)])

        def get_next(self):
            return next(self.samples, None)

    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # quant_pre_process logs its advice on every model
    try:
        with tempfile.TemporaryDirectory() as folder:
            float_path, prepared_path, int8_path = (os.path.join(folder, f"{n}.onnx") for n in ("float", "pre", "int8"))
            with open(float_path, "wb") as f:
                f.write(model_bytes)
            try:
                quant_pre_process(float_path, prepared_path)
            except Exception:  # its symbolic shape inference fails on some graphs: quantize them as exported
                prepared_path = float_path
            quantize_static(prepared_path, int8_path, Samples(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            reduce_range=reduce_range())
            with open(int8_path, "rb") as f:
                return f.read()
    finally:
        quiet.setLevel(level)
