"""What each aten op costs: a table from op to cost function, so adding an op is adding a row.

MACs come from ``torch.utils.flop_counter``'s registered formulas (the ones ``FlopCounterMode``
uses: convolution of every kind, including grouped and transposed, and matmuls), halved, because
torch counts 2 FLOPs per MAC. Bias is not a MAC: it is counted here as element-wise work.

Element-wise work (``ELEMENTWISE_COST``), per op:

==========================================  ===========================================
op                                          element ops
==========================================  ===========================================
add, sub, mul, div (and in-place forms)     1 per output element
abs, neg, relu, clamp, hardtanh, leaky_relu 1 per output element
sigmoid, tanh, silu, gelu, hardswish, ...   1 per output element (a transcendental is 1)
batch norm (eval or training)               2 per output element (scale and shift)
avg / max pooling, adaptive pooling         1 per input element (each input read once)
mean, sum                                   1 per input element
upsample nearest                            0 (a copy)
upsample bilinear                           4 per output element
convolution / addmm bias                    1 per output element (one add)
==========================================  ===========================================

Ops that only move data (views, reshapes, cat, pad, copies, allocation) cost 0 element ops by
definition. Any other op is reported by name in ``Cost.uncounted_ops``, never silently dropped.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import torch
from torch.utils.flop_counter import flop_registry

from convbench.counting.sequence_ops import SEQUENCE_MACS

aten = torch.ops.aten

__all__ = ["DATA_MOVEMENT", "ELEMENTWISE_COST", "is_conv", "mac_count", "multiplies_weights", "numel"]

# Op names that multiply weights (or attention operands) with inputs: one of these without a MAC
# formula is a gap in convbench's own count.
_WEIGHT_OP = re.compile(r"conv|linear|mm|matmul|einsum|attention|lstm|gru|rnn|baddbmm|addbmm|tensordot")


def multiplies_weights(op_name: str) -> bool:
    return bool(_WEIGHT_OP.search(op_name))


def numel(value: Any) -> int:
    return value.numel() if isinstance(value, torch.Tensor) else 0


def _per_output(factor: int) -> Callable:
    return lambda args, kwargs, out: factor * numel(out[0] if isinstance(out, (tuple, list)) else out)


def _per_input(args, kwargs, out) -> int:
    return numel(args[0])


def _bias_adds(args, kwargs, out) -> int:
    """Bias of convolution(input, weight, bias, ...) or addmm(bias, a, b)."""
    return numel(out) if len(args) > 2 and isinstance(args[2], torch.Tensor) else 0


def _addmm_bias(args, kwargs, out) -> int:
    return numel(out)


_ONE_PER_OUTPUT = [
    "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "rsub",
    "abs", "abs_", "neg", "relu", "relu_", "clamp", "clamp_", "clamp_min", "clamp_min_",
    "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "threshold", "threshold_",
    "sigmoid", "sigmoid_", "tanh", "tanh_", "silu", "silu_", "gelu", "hardswish", "hardswish_",
    "hardsigmoid", "hardsigmoid_", "elu", "elu_", "exp", "sqrt", "rsqrt", "where",
]
_ONE_PER_INPUT = [
    "avg_pool2d", "max_pool2d", "max_pool2d_with_indices", "adaptive_avg_pool2d",
    "_adaptive_avg_pool2d", "adaptive_max_pool2d", "mean", "sum",
]
_BATCH_NORM = ["native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
               "cudnn_batch_norm", "miopen_batch_norm"]

ELEMENTWISE_COST: dict[Any, Callable] = {
    **{getattr(aten, name): _per_output(1) for name in _ONE_PER_OUTPUT},
    **{getattr(aten, name): _per_input for name in _ONE_PER_INPUT},
    **{getattr(aten, name): _per_output(2) for name in _BATCH_NORM},
    aten.upsample_nearest2d: _per_output(0),
    aten.upsample_bilinear2d: _per_output(4),
    aten.convolution: _bias_adds,
    aten._convolution: _bias_adds,
    aten.addmm: _addmm_bias,
}

DATA_MOVEMENT = {
    getattr(aten, name)
    for name in [
        "view", "_unsafe_view", "reshape", "permute", "transpose", "t", "expand", "squeeze",
        "unsqueeze", "flatten", "slice", "select", "split", "split_with_sizes", "unbind", "narrow",
        "as_strided", "alias", "detach", "clone", "contiguous", "copy_", "_to_copy", "cat", "stack",
        "constant_pad_nd", "pad", "repeat", "repeat_interleave", "roll", "empty", "empty_like",
        "empty_strided", "zeros", "zeros_like", "ones", "ones_like", "fill_", "zero_", "new_empty",
        "new_zeros", "lift_fresh", "index", "index_select", "_unsafe_index", "split_copy",
    ]
    if hasattr(aten, name)
}

_CONV_OPS = {aten.convolution, aten._convolution, aten.cudnn_convolution,
             aten.convolution_overrideable, aten._slow_conv2d_forward}


def mac_count(packet, args, kwargs, out) -> int:
    """MACs of one op call: convbench's formula for the fused attention and recurrent ops
    (:mod:`convbench.counting.sequence_ops`), else torch's flop formula halved; 0 for ops without either."""
    if packet in SEQUENCE_MACS:
        return int(SEQUENCE_MACS[packet](args, kwargs or {}, out))
    formula = flop_registry.get(packet)
    if formula is None:
        return 0
    flops = formula(*args, **(kwargs or {}), out_val=out)
    return int(flops) // 2


def is_conv(packet) -> bool:
    return packet in _CONV_OPS

