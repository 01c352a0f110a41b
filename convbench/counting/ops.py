"""What each aten op costs: a table from op to cost function, so adding an op is adding a row.

MACs come from :mod:`convbench.counting.sequence_ops` (fused attention and recurrent ops),
:mod:`convbench.counting.quantized_ops` (``quantized::`` linear and conv) and
:mod:`convbench.counting.backward_ops` (conv, attention and recurrent gradients), else from
``torch.utils.flop_counter``'s registered formulas (the ones ``FlopCounterMode``
uses: convolution of every kind, including grouped and transposed, and matmuls), halved, because
torch counts 2 FLOPs per MAC. Bias is not a MAC: it is counted here as element-wise work.

Element-wise work (``ELEMENTWISE_COST``), per op:

==========================================  ===========================================
op                                          element ops
==========================================  ===========================================
add, sub, mul, div (and in-place forms)     1 per output element
abs, neg, relu, clamp, hardtanh, leaky_relu 1 per output element
comparisons, logical ops, max/min, pow, log 1 per output element
sigmoid, tanh, silu, gelu, hardswish, ...   1 per output element (a transcendental is 1)
batch norm (eval or training)               2 per output element (scale and shift)
avg / max pooling, adaptive pooling         1 per input element (each input read once)
mean, sum                                   1 per input element
upsample nearest (1-D, 2-D, 3-D)            0 (a copy)
upsample linear / bilinear / trilinear      2 / 4 / 8 per output element (one per neighbour)
upsample bicubic                            16 per output element
convolution / addmm bias                    1 per output element (one add)
==========================================  ===========================================

Ops that only move data (views, reshapes, cat, pad, copies, gathers such as ``embedding``,
allocation) cost 0 element ops by definition. Any other op is reported by name in
``Cost.uncounted_ops``, never silently dropped.

Ops whose output *shape* depends on the values of their input (``nonzero``, boolean masking,
``unique``, torchvision's ``nms``), and reads of a tensor's value into Python (``.item()``, ``if
tensor:``, which is how data-dependent control flow starts) make a count hold for the input it was
made on only: they are :data:`DATA_DEPENDENT` and a count names them. ``topk`` and ``sort`` are not:
their output sizes are fixed by their arguments, so what runs after them costs the same on any data.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.utils.flop_counter import flop_registry

from convbench.counting.backward_ops import BACKWARD_MACS
from convbench.counting.matrix_ops import INT8_MATRIX_OPS, MATRIX_MACS
from convbench.counting.quantized_ops import QUANTIZED_MACS, QUANTIZED_NAMES, int8_call
from convbench.counting.sequence_ops import SEQUENCE_MACS

aten = torch.ops.aten

__all__ = ["DATA_DEPENDENT", "DATA_MOVEMENT", "ELEMENTWISE_COST", "WEIGHT_OPS", "is_conv", "is_int8", "mac_count",
           "multiplies_weights", "numel", "torch_macs"]


# Ops that multiply weights (or attention operands) with inputs, by exact name: one of these without a
# MAC formula is a gap in convbench's own count. A name is never matched by a part of it
# (``upsample_linear1d`` is not ``linear``, ``cummax`` is not ``mm``).
WEIGHT_OPS = frozenset({
    *(f"aten.{name}" for name in (
        "convolution", "_convolution", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
        "conv_transpose3d", "cudnn_convolution", "cudnn_convolution_transpose", "mkldnn_convolution",
        "miopen_convolution", "convolution_overrideable", "_slow_conv2d_forward", "slow_conv3d_forward",
        "slow_conv_dilated2d", "slow_conv_dilated3d", "slow_conv_transpose2d", "slow_conv_transpose3d",
        "thnn_conv2d", "_conv_depthwise2d", "conv_depthwise3d", "_mps_convolution",
        "linear", "_addmm_activation", "addmm", "mm", "bmm", "baddbmm", "addbmm", "matmul", "mv", "addmv",
        "dot", "vdot", "outer", "ger", "addr", "einsum", "tensordot", "bilinear", "_trilinear", "_int_mm",
        "_scaled_mm", "_weight_int8pack_mm", "_weight_int4pack_mm", "fbgemm_linear_int8_weight",
        "fbgemm_linear_fp16_weight", "mkldnn_linear",
        "scaled_dot_product_attention", "_scaled_dot_product_attention_math",
        "_scaled_dot_product_flash_attention", "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
        "_efficient_attention_forward", "_flash_attention_forward", "_native_multi_head_attention",
        "_transformer_encoder_layer_fwd", "lstm", "gru", "rnn_tanh", "rnn_relu", "mkldnn_rnn_layer",
        "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell", "_thnn_fused_lstm_cell",
        "_thnn_fused_gru_cell", "quantized_lstm_cell", "quantized_gru_cell", "convolution_backward",
        "_scaled_dot_product_flash_attention_for_cpu_backward", "_scaled_dot_product_flash_attention_backward",
        "_scaled_dot_product_efficient_attention_backward", "_scaled_dot_product_cudnn_attention_backward",
        "mkldnn_rnn_layer_backward", "_cudnn_rnn_backward", "cudnn_convolution_backward",
    )),
    *(f"quantized.{name}" for name in QUANTIZED_NAMES),
})


def multiplies_weights(op_name: str) -> bool:
    """Whether ``op_name`` (as ``str(op)`` gives it: ``aten.mm``) multiplies weights with inputs."""
    return op_name in WEIGHT_OPS


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
    "hardsigmoid", "hardsigmoid_", "elu", "elu_", "exp", "sqrt", "rsqrt", "where", "logical_not",
    "gt", "lt", "ge", "le", "eq", "ne", "logical_and", "logical_or", "maximum", "minimum", "pow", "log",
    "reciprocal", "sin", "cos", "erf",
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
    aten.upsample_nearest1d: _per_output(0),
    aten.upsample_nearest2d: _per_output(0),
    aten.upsample_nearest3d: _per_output(0),
    aten.upsample_linear1d: _per_output(2),
    aten.upsample_bilinear2d: _per_output(4),
    aten.upsample_trilinear3d: _per_output(8),
    aten.upsample_bicubic2d: _per_output(16),
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
        "unsafe_split", "unsafe_split_with_sizes", "unsafe_chunk", "chunk", "as_strided_", "_reshape_alias",
        "transpose_", "t_", "squeeze_", "unsqueeze_", "embedding", "gather", "take", "full", "full_like",
        "new_full", "new_ones", "arange", "scalar_tensor", "_to_dense", "to_padded_tensor", "masked_fill",
        "masked_fill_", "index_put", "index_put_", "set_", "resize_", "quantize_per_tensor",
        "quantize_per_channel", "dequantize", "_local_scalar_dense", "_nested_tensor_from_mask",
        "_nested_tensor_from_mask_left_aligned", "nonzero", "masked_select",
    ]
    if hasattr(aten, name)
}

# Ops whose outputs' sizes, or the Python control flow after them, follow the values of the data.
DATA_DEPENDENT = frozenset({
    *(f"aten.{name}" for name in (
        "nonzero", "nonzero_static", "argwhere", "masked_select", "masked_scatter", "unique", "_unique",
        "_unique2", "unique_dim", "unique_consecutive", "unique_dim_consecutive", "bincount", "histc",
        "_local_scalar_dense", "is_nonzero", "equal", "_nested_tensor_from_mask",
        "_nested_tensor_from_mask_left_aligned",
    )),
    "torchvision.nms", "torchvision.batched_nms",
})

_CONV_OPS = {aten.convolution, aten._convolution, aten.cudnn_convolution,
             aten.convolution_overrideable, aten._slow_conv2d_forward}


def mac_count(packet, args, kwargs, out) -> int:
    """MACs of one op call: convbench's formula for the fused attention, recurrent, quantized,
    backward and matrix-vector / int8 / trilinear ops, else torch's flop formula halved; 0 for ops
    without either."""
    if packet in SEQUENCE_MACS:
        return int(SEQUENCE_MACS[packet](args, kwargs or {}, out))
    if packet in QUANTIZED_MACS:
        return int(QUANTIZED_MACS[packet](args, kwargs or {}, out))
    if packet in BACKWARD_MACS:
        return int(BACKWARD_MACS[packet](args, kwargs or {}, out))
    if packet in MATRIX_MACS:
        return int(MATRIX_MACS[packet](args, kwargs or {}, out))
    return torch_macs(packet, args, kwargs, out) or 0


def torch_macs(packet, args, kwargs, out) -> int | None:
    """What ``torch.utils.flop_counter.FlopCounterMode`` counts for one op call, as MACs (its
    FLOPs / 2); None where it has no formula."""
    formula = flop_registry.get(packet)
    if formula is None:
        return None
    return int(formula(*args, **(kwargs or {}), out_val=out)) // 2


def is_int8(packet, args, kwargs) -> bool:
    """Whether one op call's MACs are int8 ones (``Cost.macs_int8``)."""
    return packet in INT8_MATRIX_OPS or int8_call(packet, args, kwargs)


def is_conv(packet) -> bool:
    return packet in _CONV_OPS

