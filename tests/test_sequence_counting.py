"""MACs of attention and recurrent layers against their closed forms, in every execution path
(the fused inference ops, the training-mode decomposition), per image at any batch size."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convbench

E, HEADS, FFN, L, LAYERS = 32, 4, 64, 10, 2


def encoder_closed_form(length: int = L) -> int:
    """Per image and layer: Q, K, V and output projections 4 L E^2, Q K^T and A V 2 L^2 E, FFN 2 L E F."""
    return LAYERS * (4 * length * E * E + 2 * length * length * E + 2 * length * E * FFN)


def encoder() -> nn.Module:
    layer = nn.TransformerEncoderLayer(E, HEADS, FFN, batch_first=True, dropout=0.0)
    return nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("batch", [1, 4])
def test_a_transformer_encoder_counts_its_closed_form(training, batch):
    cost = convbench.count(encoder(), torch.randn(batch, L, E), training=training, reference_counters=False)
    assert cost.macs == pytest.approx(encoder_closed_form(), rel=1e-3)
    assert not any("attention" in op or "transformer" in op for op in cost.uncounted_ops)


def test_the_count_is_the_same_under_inference_mode():
    with torch.inference_mode():
        cost = convbench.count(encoder(), torch.randn(2, L, E), reference_counters=False)
    assert cost.macs == pytest.approx(encoder_closed_form(), rel=1e-3)


@pytest.mark.parametrize("training", [False, True])
def test_multi_head_attention_with_another_source_length(training):
    class CrossAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = nn.MultiheadAttention(E, HEADS, batch_first=True)

        def forward(self, x, memory):
            return self.attention(x, memory, memory, need_weights=False)[0]

    source = 7
    cost = convbench.count(CrossAttention(), torch.randn(3, L, E), torch.randn(3, source, E),
                           training=training, reference_counters=False)
    closed = L * E * E + 2 * source * E * E + L * E * E + 2 * L * source * E
    assert cost.macs == closed


class Attention(nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


@pytest.mark.parametrize("batch", [1, 4])
def test_scaled_dot_product_attention_counts_both_matmuls(batch):
    heads, length, source, d, dv = 4, 12, 9, 16, 8
    q, k, v = (torch.randn(batch, heads, length, d), torch.randn(batch, heads, source, d),
               torch.randn(batch, heads, source, dv))
    cost = convbench.count(Attention(), q, k, v, reference_counters=False)
    assert cost.macs == heads * length * source * (d + dv)


def test_the_math_path_of_attention_agrees_with_the_fused_one():
    q = k = v = torch.randn(2, 4, 12, 16)
    fused = convbench.count(Attention(), q, k, v, reference_counters=False).macs
    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
        math_path = convbench.count(Attention(), q, k, v, reference_counters=False).macs
    assert fused == math_path == 4 * 12 * 12 * 32


GATES = {nn.LSTM: 4, nn.GRU: 3, nn.RNN: 1}


@pytest.mark.parametrize("cls", list(GATES))
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("batch", [1, 4])
def test_recurrent_layers_count_gates_times_hidden_times_inputs_plus_hidden(cls, training, batch):
    steps, inputs, hidden = 6, 16, 32
    layer = cls(inputs, hidden, num_layers=2, batch_first=True, bidirectional=True)
    cost = convbench.count(layer, torch.randn(batch, steps, inputs), training=training, reference_counters=False)
    g = GATES[cls]
    first = g * hidden * (inputs + hidden)
    second = g * hidden * (2 * hidden + hidden)  # layer 2 reads both directions of layer 1
    assert cost.macs == steps * 2 * (first + second)


def test_an_op_without_a_formula_is_named_as_a_gap_of_convbench_not_of_ptflops(monkeypatch):
    from convbench.counting import ops

    monkeypatch.delitem(ops.SEQUENCE_MACS, torch.ops.aten._scaled_dot_product_flash_attention_for_cpu)
    q = torch.randn(1, 2, 4, 8)
    cost = convbench.count(Attention(), q, q, q)
    assert "convbench: no MAC formula for aten._scaled_dot_product_flash_attention_for_cpu" in cost.check
    assert "non-MAC ops counted as MACs" not in cost.check


def test_a_layer_made_under_inference_mode_counts_the_same():
    with torch.inference_mode():
        conv, x = convbench.build("conv", 8, 8, 3), torch.randn(1, 8, 8, 8)
        assert convbench.count(conv, x).macs == 8 * 8 * 9 * 8 * 8
        assert convbench.count(encoder(), torch.randn(2, L, E), reference_counters=False).macs == pytest.approx(
            encoder_closed_form(), rel=1e-3)
