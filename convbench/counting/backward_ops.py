"""MACs of the backward ops a training step runs, where ``torch.utils.flop_counter`` has no
formula or a wrong one.

- ``convolution_backward``: the gradient of the input and the gradient of the weight are each one
  pass of the same multiply-accumulates as the forward conv, so each costs the forward MACs (the
  ``output_mask`` says which the step needs; the bias gradient is a sum, no MACs). Grouped convs
  included: ``torch.utils.flop_counter`` (torch 2.13) counts a grouped conv's input gradient as if
  the conv were not grouped, ``groups`` times too many (33x the forward for a depthwise conv).
- scaled dot-product attention (the CPU flash kernel's backward): the gradients of Q, K and V and
  of the attention matrix are four products of the forward's sizes, ``2 L S E`` MACs over all
  heads, as for the two forward products.
- ``mkldnn_rnn_layer_backward`` (oneDNN's LSTM layer): the kernel computes every gradient, but
  the rule is the one for every layer: what the step needs. The gradient of each weight matrix
  that learns (one pass over it per time step), of the hidden state at every step but the first
  (one pass over ``W_hh``; the first too where the initial state needs a gradient), and of the
  layer's input where it needs one (one pass over ``W_ih``): what autograd runs for a GRU, or for
  an LSTM with oneDNN off.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

aten = torch.ops.aten

__all__ = ["BACKWARD_MACS"]


def _conv_forward_macs(grad_output: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, transposed: bool) -> int:
    per_position = weight.numel() // weight.shape[0]  # C_in / groups x k... (C_out / groups x k... transposed)
    return (x.numel() if transposed else grad_output.numel()) * per_position


def _convolution_backward(args, kwargs, out) -> int:
    grad_output, x, weight = args[0], args[1], args[2]
    transposed, output_mask = args[7], args[10]
    return (int(output_mask[0]) + int(output_mask[1])) * _conv_forward_macs(grad_output, x, weight, transposed)


def _flash_attention_backward(args, kwargs, out) -> int:
    query, key, value = args[1], args[2], args[3]
    rows = query.numel() // query.shape[-1]  # batch x heads x L
    return 2 * rows * key.shape[-2] * (query.shape[-1] + value.shape[-1])


def _rnn_layer_backward(args, kwargs, out) -> int:
    data, weight_ih, weight_hh, hx = args[0], args[1], args[2], args[5]
    rows = data.numel() // data.shape[-1]  # time steps x batch
    first_step = 0 if hx.requires_grad else hx.shape[0]
    learns = weight_ih.requires_grad or weight_hh.requires_grad or data.requires_grad or hx.requires_grad
    return (rows * weight_ih.numel() * (int(weight_ih.requires_grad) + int(data.requires_grad))
            + rows * weight_hh.numel() * int(weight_hh.requires_grad)
            + (rows - first_step) * weight_hh.numel() * int(learns))


BACKWARD_MACS: dict[Any, Callable[..., int]] = {
    aten.convolution_backward: _convolution_backward,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _flash_attention_backward,
    aten.mkldnn_rnn_layer_backward: _rnn_layer_backward,
}
