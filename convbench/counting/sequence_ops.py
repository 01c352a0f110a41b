"""MACs of the attention and recurrent ops that ``torch.utils.flop_counter`` has no formula for.

In eval mode under ``no_grad`` / ``inference_mode`` PyTorch runs these layers as single fused ops:
``nn.MultiheadAttention`` as ``_native_multi_head_attention``, ``nn.TransformerEncoderLayer`` as
``_transformer_encoder_layer_fwd``, ``F.scaled_dot_product_attention`` on the CPU as
``_scaled_dot_product_flash_attention_for_cpu``, ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` as ``lstm``,
``gru``, ``rnn_tanh`` / ``rnn_relu`` (and ``mkldnn_rnn_layer`` per layer when training). Without a
formula their MACs would be 0. The convention is convbench's throughout: a MAC is one weight (or one
attention operand) multiplied into an input and accumulated; bias, softmax, layer norm, gates'
nonlinearities and the residual adds are not MACs.

- Attention: the Q, K, V and output projections (one MAC per weight per token they touch), plus the
  two attention matmuls ``Q K^T`` and ``A V``: ``L x S x d`` MACs each per head, ``L x S x E`` over
  all heads (E = heads x d). A causal mask does not change the count (the kernels compute the full
  product), as ``torch.utils.flop_counter`` counts its own attention ops.
- Recurrent layers: every weight matrix is applied once per time step per sequence, so MACs =
  (time steps x batch) x (the number of weights in all the weight matrices): ``4H(I + H)`` per step
  for an LSTM layer, ``3H(I + H)`` for a GRU, ``H(I + H)`` for an Elman RNN, per direction.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

aten = torch.ops.aten

__all__ = ["SEQUENCE_MACS"]


def _parts(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The sequences of a nested tensor (each its own length: padding a mask left out is not
    computed), or the tensor itself."""
    return tuple(x.unbind()) if x.is_nested else (x,)


def _tokens(x: torch.Tensor) -> int:
    """Positions a token-wise weight is applied at: all dims but the last (features)."""
    return sum(part.numel() // part.shape[-1] for part in _parts(x) if part.dim())


def _attention_products(query: torch.Tensor, key: torch.Tensor, embed_dim: int) -> int:
    """``Q K^T`` and ``A V`` over all heads: ``L x S x E`` MACs each, per sequence."""
    return 2 * sum(_tokens(q) * k.shape[-2] * embed_dim for q, k in zip(_parts(query), _parts(key)))


def _multi_head_attention(args, kwargs, out) -> int:
    query, key = args[0], args[1]
    embed_dim, qkv_weight, proj_weight = args[3], args[5], args[7]
    q_tokens, kv_tokens = _tokens(query), _tokens(key)
    projections = (q_tokens + 2 * kv_tokens) * qkv_weight.numel() // 3 + q_tokens * proj_weight.numel()
    return projections + _attention_products(query, key, embed_dim)


def _encoder_layer(args, kwargs, out) -> int:
    src, embed_dim = args[0], args[1]
    qkv_weight, proj_weight, ffn_1, ffn_2 = args[3], args[5], args[14], args[16]
    weights = qkv_weight.numel() + proj_weight.numel() + ffn_1.numel() + ffn_2.numel()
    return _tokens(src) * weights + _attention_products(src, src, embed_dim)


def _flash_attention(args, kwargs, out) -> int:
    query, key, value = args[0], args[1], args[2]
    rows = query.numel() // query.shape[-1]  # batch x heads x L
    return rows * key.shape[-2] * (query.shape[-1] + value.shape[-1])


def _linear(args, kwargs, out) -> int:
    """``aten.linear`` reaches dispatch whole only on nested tensors (dense ones decompose to mm)."""
    return _tokens(args[0]) * args[1].numel()


def _recurrent(args, kwargs, out) -> int:
    """lstm / gru / rnn_tanh / rnn_relu (.input and .data): the 2-D tensors in the params list are
    the weight matrices (hx holds 3-D states, biases are 1-D)."""
    data = args[0]
    weights = sum(t.numel() for arg in args if isinstance(arg, (list, tuple))
                  for t in arg if isinstance(t, torch.Tensor) and t.dim() == 2)
    return _tokens(data) * weights


def _mkldnn_rnn_layer(args, kwargs, out) -> int:
    data, weight_ih, weight_hh = args[0], args[1], args[2]
    return _tokens(data) * (weight_ih.numel() + weight_hh.numel())


SEQUENCE_MACS: dict[Any, Callable[..., int]] = {
    aten.linear: _linear,
    aten._native_multi_head_attention: _multi_head_attention,
    aten._transformer_encoder_layer_fwd: _encoder_layer,
    aten._scaled_dot_product_flash_attention_for_cpu: _flash_attention,
    aten.lstm: _recurrent,
    aten.gru: _recurrent,
    aten.rnn_tanh: _recurrent,
    aten.rnn_relu: _recurrent,
    aten.mkldnn_rnn_layer: _mkldnn_rnn_layer,
}
