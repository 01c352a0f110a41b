"""MACs of PyTorch's quantized ops (``torch.ao.quantization``): the ``quantized::`` linear and conv
kernels that dynamic and static quantization swap in, whose weights are packed where
``torch.utils.flop_counter`` has no formula.

A quantized MAC is one weight multiplied into an input and accumulated, as in float; the int8 ones
are also reported apart (``Cost.macs_int8``), since an int8 MAC and a float32 MAC are not the same
work. ``linear_dynamic_fp16`` multiplies float16 weights: counted as MACs, not as int8.

- linear: output elements x ``in_features`` (the input's last dimension);
- conv: output elements x the weights one output element sees (``C_in / groups x k...``);
- transposed conv: input elements x the weights one input element is scattered through
  (``C_out / groups x k...``), the input-size convention used for float transposed convs.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

__all__ = ["INT8_OPS", "QUANTIZED_MACS", "QUANTIZED_NAMES"]


def _linear(args, kwargs, out) -> int:
    return out.numel() * args[0].shape[-1]


def _weight(packed) -> torch.Tensor:
    return packed.unpack()[0]


def _conv(args, kwargs, out) -> int:
    weight = _weight(args[1])
    return out.numel() * (weight.numel() // weight.shape[0])


def _conv_transpose(args, kwargs, out) -> int:
    weight = _weight(args[1])
    return args[0].numel() * (weight.numel() // weight.shape[0])


_LINEAR = ("linear", "linear_relu", "linear_dynamic", "linear_relu_dynamic", "linear_leaky_relu", "linear_tanh")
_CONV = ("conv1d", "conv2d", "conv3d", "conv1d_relu", "conv2d_relu", "conv3d_relu", "conv2d_add", "conv2d_add_relu")
_CONV_TRANSPOSE = ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
_FLOAT16 = ("linear_dynamic_fp16", "linear_relu_dynamic_fp16")

QUANTIZED_NAMES = (*_LINEAR, *_CONV, *_CONV_TRANSPOSE, *_FLOAT16)


def _ops(names, formula) -> dict[Any, Callable]:
    return {getattr(torch.ops.quantized, name): formula for name in names if _exists(name)}


def _exists(name: str) -> bool:
    try:
        getattr(torch.ops.quantized, name)
    except (AttributeError, RuntimeError):
        return False
    return True


QUANTIZED_MACS: dict[Any, Callable[..., int]] = {
    **_ops(_LINEAR, _linear), **_ops(_FLOAT16, _linear), **_ops(_CONV, _conv),
    **_ops(_CONV_TRANSPOSE, _conv_transpose),
}
INT8_OPS = frozenset(op for op in QUANTIZED_MACS if str(op).split(".")[-1] not in _FLOAT16)
