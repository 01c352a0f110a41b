"""MACs of PyTorch's quantized ops (``torch.ao.quantization``): the ``quantized::`` linear and conv
kernels that dynamic and static quantization swap in, whose weights are packed where
``torch.utils.flop_counter`` has no formula.

A quantized MAC is one weight multiplied into an input and accumulated, as in float; the int8 ones
are also reported apart (``Cost.macs_int8``), since an int8 MAC and a float32 MAC are not the same
work. ``linear_dynamic_fp16`` multiplies float16 weights: counted as MACs, not as int8.

- linear: output elements x ``in_features`` (the input's last dimension);
- conv: output elements x the weights one output element sees (``C_in / groups x k...``);
- transposed conv: input elements x the weights one input element is scattered through
  (``C_out / groups x k...``), the input-size convention used for float transposed convs;
- dynamic recurrent cells (``quantized_lstm_cell_dynamic`` and the GRU / RNN ones): rows x the
  weights of both packed matrices, as a float cell;
- dynamic LSTM / GRU (``aten.quantized_lstm`` / ``quantized_gru``, whose packed weights cannot be
  read from the op): time steps x batch x, per layer and direction, ``gates x H x (I + H)``, with
  I the input width for the first layer and ``H x directions`` after it, as a float ``nn.LSTM``.
  Their MACs are int8 ones unless the weights are float16 (``quantize_dynamic(dtype=float16)``).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

__all__ = ["INT8_OPS", "QUANTIZED_MACS", "QUANTIZED_NAMES", "int8_call"]


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


def _rows(x: torch.Tensor) -> int:
    return x.numel() // x.shape[-1] if x.dim() else 1


def _cell(args, kwargs, out) -> int:
    return _rows(args[0]) * (_weight(args[2]).numel() + _weight(args[3]).numel())


def _int8_cell(args, kwargs) -> bool:
    return _weight(args[2]).dtype == torch.qint8


def _recurrent(gates: int):
    def macs(args, kwargs, out) -> int:
        shift = int(isinstance(args[1], torch.Tensor) and args[1].dim() == 1)  # .data: (data, batch_sizes, hx, ...)
        data, hx = args[0], args[1 + shift]
        layers, bidirectional = args[4 + shift], args[7 + shift]
        hidden = (hx[0] if isinstance(hx, (list, tuple)) else hx).shape[-1]
        directions = 2 if bidirectional else 1
        total, width = 0, data.shape[-1]
        for _ in range(layers):
            total += directions * gates * hidden * (width + hidden)
            width = hidden * directions
        return _rows(data) * total
    return macs


def _int8_recurrent(args, kwargs) -> bool:
    """The params' state names their kind: ``quantized_dynamic`` (int8) or ``quantized_fp16``."""
    if "dtype" in kwargs:
        return kwargs["dtype"] == torch.qint8
    params = next(arg for arg in args if isinstance(arg, list) and arg and isinstance(arg[0], torch.ScriptObject))
    return params[0].__getstate__()[0][0] == "quantized_dynamic"


_LINEAR = ("linear", "linear_relu", "linear_dynamic", "linear_relu_dynamic", "linear_leaky_relu", "linear_tanh")
_CONV = ("conv1d", "conv2d", "conv3d", "conv1d_relu", "conv2d_relu", "conv3d_relu", "conv2d_add", "conv2d_add_relu")
_CONV_TRANSPOSE = ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
_FLOAT16 = ("linear_dynamic_fp16", "linear_relu_dynamic_fp16")

_CELLS = ("quantized_lstm_cell_dynamic", "quantized_gru_cell_dynamic", "quantized_rnn_tanh_cell_dynamic",
          "quantized_rnn_relu_cell_dynamic")

QUANTIZED_NAMES = (*_LINEAR, *_CONV, *_CONV_TRANSPOSE, *_FLOAT16, *_CELLS)


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
    **_ops(_CONV_TRANSPOSE, _conv_transpose), **_ops(_CELLS, _cell),
    torch.ops.aten.quantized_lstm: _recurrent(4), torch.ops.aten.quantized_gru: _recurrent(3),
}
_SOMETIMES_INT8 = {**{op: _int8_cell for op in _ops(_CELLS, _cell)},
                   torch.ops.aten.quantized_lstm: _int8_recurrent, torch.ops.aten.quantized_gru: _int8_recurrent}
INT8_OPS = frozenset(op for op in QUANTIZED_MACS
                     if str(op).split(".")[-1] not in _FLOAT16 and op not in _SOMETIMES_INT8)


def int8_call(packet, args, kwargs) -> bool:
    """Whether this call's MACs are int8 ones: always for the int8 kernels, by their weights for the
    recurrent ones, whose weights may be float16."""
    if packet in INT8_OPS:
        return True
    check = _SOMETIMES_INT8.get(packet)
    return bool(check and check(args, kwargs or {}))
