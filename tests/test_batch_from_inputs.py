"""The batch is decided from all of a model's inputs, not from the first one: a timestep before the
image (diffusion U-Nets), a conditioning tensor before the input, 1-D indices in bags; inputs
that disagree with nothing to settle it are refused in one line. Each count is checked against
its closed form."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import convbench

EMB, C = 16, 8


class Denoiser(nn.Module):
    """A diffusion-style ``forward(t, img)``: a sinusoidal timestep embedding through a linear layer,
    added to a conv's output (Ho et al., 2020, "Denoising Diffusion Probabilistic Models")."""

    def __init__(self):
        super().__init__()
        self.time = nn.Linear(EMB, C, bias=False)
        self.conv = nn.Conv2d(3, C, 3, padding=1, bias=False)
        self.out = nn.Conv2d(C, 3, 1, bias=False)

    def forward(self, t, img):
        angles = t[..., None].float() * torch.arange(EMB // 2, dtype=torch.float32)
        embedding = self.time(torch.cat([angles.sin(), angles.cos()], dim=-1))
        return self.out(self.conv(img) + embedding[..., None, None])


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 5), side=st.integers(3, 7), scalar_t=st.booleans(), by_name=st.booleans())
def test_a_timestep_before_the_image_counts_per_image(batch, side, scalar_t, by_name):
    t = torch.tensor(7) if scalar_t else torch.arange(batch)
    img = torch.randn(batch, 3, side, side)
    model = Denoiser()
    if by_name:
        cost = convbench.count(model, kwargs={"t": t, "img": img}, reference_counters=False)
    else:
        cost = convbench.count(model, t, img, reference_counters=False)
    pixels = side * side
    convs = 3 * C * 9 * pixels + C * 3 * pixels
    time = EMB * C / batch if scalar_t else EMB * C  # one timestep for the whole batch, or one each
    assert (cost.batch, cost.per, cost.batch_dim) == (batch, "image", 0)
    assert cost.macs == pytest.approx(convs + time)
    assert cost.pixels == pixels and cost.kmac_per_pixel == pytest.approx(cost.macs / 1000 / pixels)
    assert "img" in cost.batch_source or "input 1" in cost.batch_source


class Conditioned(nn.Module):
    """``forward(cond, x)``: one conditioning vector broadcast over a batch of images."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, C, 3, padding=1, bias=False)
        self.project = nn.Linear(EMB, C, bias=False)

    def forward(self, cond, x):
        return self.conv(x) + self.project(cond)[..., None, None]


def test_a_broadcast_input_before_the_batch_does_not_decide_it():
    """Inputs disagree at dim 0 (1 vs 4): the one the first conv takes is the batch. The linear
    layer runs once for the batch, so a quarter of it is each image's."""
    cost = convbench.count(Conditioned(), torch.randn(1, EMB), torch.randn(4, 3, 5, 5), reference_counters=False)
    assert (cost.batch, cost.per, cost.pixels) == (4, "image", 25)
    assert cost.macs == 3 * C * 9 * 25 + EMB * C / 4


class Sums(nn.Module):
    def forward(self, a, b):
        return a.sum() + b.sum()


def test_inputs_that_disagree_with_no_layer_to_settle_it_are_refused_naming_both():
    with pytest.raises(ValueError) as refused:
        convbench.count(Sums(), torch.randn(4, 8), torch.randn(3, 8), reference_counters=False)
    message = str(refused.value)
    assert "\n" not in message
    assert "(4, 8)" in message and "(3, 8)" in message and "batch_dim" not in message.split(":")[0]


class BagThenLinear(nn.Module):
    def __init__(self, include_last_offset=False):
        super().__init__()
        self.bag = nn.EmbeddingBag(100, EMB, mode="sum", include_last_offset=include_last_offset)
        self.head = nn.Linear(EMB, C, bias=False)

    def forward(self, indices, offsets=None):
        return self.head(self.bag(indices, offsets))


@settings(max_examples=20, deadline=None)
@given(bags=st.integers(1, 6), length=st.integers(1, 5), last=st.booleans())
def test_one_d_indices_in_bags_count_per_bag_as_the_same_bags_in_2d(bags, length, last):
    """The same bags given 1-D with offsets and 2-D (bags x length) run the same kernel: every
    per-bag figure agrees but the offsets the 2-D call builds (one int64 per bag), and the head's
    MACs are its closed form per bag."""
    torch.manual_seed(0)
    model = BagThenLinear(include_last_offset=last)
    indices = torch.randint(0, 100, (bags * length,))
    offsets = torch.arange(0, bags * length + (length if last else 0), length)
    flat = convbench.count(model, indices, offsets, reference_counters=False)
    model.bag.include_last_offset = False
    square = convbench.count(model, indices.view(bags, length), reference_counters=False)
    assert (flat.batch, flat.per) == (bags, "bag")
    assert flat.macs == square.macs == EMB * C
    assert flat.elem_ops == square.elem_ops
    assert square.activation_bytes - flat.activation_bytes == 8
