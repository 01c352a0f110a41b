"""The matrix products torch's flop counter has no formula for are counted: matrix-vector and dot
products against the same product written as ``mm`` (torch's formula), the int8 ``_int_mm`` against
the float ``mm`` of the same shapes, and ``nn.Bilinear`` against its closed form."""

from __future__ import annotations

import torch
from hypothesis import given, settings, strategies as st
from torch import nn

import convbench

SIZES = st.integers(1, 9)


class Product(nn.Module):
    """``op(weight, x[0])`` for one sample (the batch is 1)."""

    def __init__(self, op, weight: torch.Tensor):
        super().__init__()
        self.op = op
        self.weight = nn.Parameter(weight) if weight.is_floating_point() else None
        if self.weight is None:
            self.register_buffer("int_weight", weight)

    def forward(self, x):
        weight = self.weight if self.weight is not None else self.int_weight
        return self.op(weight, x[0])


def macs(module, *inputs) -> int:
    cost = convbench.count(module, *inputs, reference_counters=False)
    assert "no MAC formula" not in (cost.check or ""), cost.check
    return cost.macs


@settings(max_examples=25, deadline=None)
@given(SIZES, SIZES)
def test_a_matrix_vector_product_counts_as_the_same_product_by_mm(rows, columns):
    weight, x = torch.randn(rows, columns), torch.randn(1, columns)
    by_mv = macs(Product(torch.mv, weight), x)
    by_mm = macs(Product(lambda w, v: w @ v[:, None], weight), x)  # torch's mm formula
    assert by_mv == by_mm == rows * columns
    assert macs(Product(lambda w, v: torch.addmv(torch.zeros(rows), w, v), weight), x) == rows * columns


@settings(max_examples=25, deadline=None)
@given(SIZES)
def test_a_dot_product_counts_its_length(length):
    weight, x = torch.randn(length), torch.randn(1, length)
    assert macs(Product(torch.dot, weight), x) == macs(Product(lambda w, v: w[None] @ v[:, None], weight), x) == length
    assert macs(Product(torch.vdot, weight), x) == length


@settings(max_examples=15, deadline=None)
@given(st.integers(17, 40), st.sampled_from([8, 16, 24]), st.sampled_from([8, 16]))
def test_an_int8_matrix_product_counts_as_the_float_one_and_is_int8(rows, inner, columns):
    """``_int_mm`` (torchao's int8 linear): per row of its input, as ``mm`` counts the float product."""
    weight = torch.randint(-8, 8, (inner, columns), dtype=torch.int8)

    class Int8(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("weight", weight)

        def forward(self, a):
            return torch._int_mm(a, self.weight)

    class Float(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(weight.float())

        def forward(self, a):
            return a @ self.weight

    a = torch.randint(-8, 8, (rows, inner), dtype=torch.int8)
    cost = convbench.count(Int8(), a, reference_counters=False)
    assert cost.macs == macs(Float(), a.float()) == inner * columns  # per row: the batch is the rows
    assert cost.macs_int8 == cost.macs


@settings(max_examples=25, deadline=None)
@given(SIZES, SIZES, SIZES, st.integers(1, 4))
def test_bilinear_counts_out_x_in1_x_in2_per_sample(in1, in2, out, batch):
    layer = nn.Bilinear(in1, in2, out)
    assert macs(layer, torch.randn(batch, in1), torch.randn(batch, in2)) == out * in1 * in2
