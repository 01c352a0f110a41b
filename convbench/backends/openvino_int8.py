"""OpenVINO's int8: the converted float model quantized by NNCF's post-training quantization
(``nncf.quantize``, its performance preset: symmetric int8 per-channel weights and per-tensor
activations), calibrated on :mod:`convbench.backends.calibration`'s set."""

from __future__ import annotations

import contextlib
import io
import logging

from convbench.backends.calibration import calibration_set

SCHEME = "NNCF (nncf.quantize, performance preset): int8 per-channel symmetric weights, int8 per-tensor activations"


def quantized(converted, inputs):
    """The int8 model of ``converted`` (an ``openvino.Model`` of a module called on ``inputs``)."""
    import nncf

    samples = calibration_set(inputs)
    dataset = nncf.Dataset(samples, lambda sample: tuple(t.numpy() for t in sample))
    nncf.set_log_level(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()):  # its progress bars
        return nncf.quantize(converted, dataset, subset_size=len(samples), preset=nncf.QuantizationPreset.PERFORMANCE)
