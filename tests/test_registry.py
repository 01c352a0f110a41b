"""The public registry API, and a user's own variant working everywhere a built-in does."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import convbench
from tests.counting import counted_macs, learnable_params

BUILTINS = ["conv", "group", "dilated", "depthwise", "depthwise_shared", "separable", "octave",
            "stft", "stft_reference", "ac", "xsep", "transposed", "stft_block1", "stft_block2", "xsep_block"]


def test_builtin_names():
    assert convbench.variant_names() == BUILTINS


def test_alias_dsc_is_separable():
    assert convbench.get_variant("dsc") is convbench.get_variant("separable")
    assert "dsc" not in convbench.variant_names()
    assert type(convbench.build("dsc", 4, 8)) is type(convbench.build("separable", 4, 8))


@pytest.mark.parametrize("name", BUILTINS)
def test_every_spec_is_documented(name):
    spec = convbench.get_variant(name)
    assert spec.description and spec.paper and spec.cost_formula is not None
    for param in spec.params:
        assert param.help
        assert param.validate(param.default, name) == param.default


def test_open_choices_are_marked():
    marked = {(n, p.name) for n in BUILTINS for p in convbench.get_variant(n).params if p.open_choice}
    assert {("separable", "norm_act"), ("stft", "activation"), ("xsep", "norm_act")} <= marked


def test_defaults_are_filled_in():
    spec = convbench.get_variant("octave")
    assert spec.resolve_params({"alpha_in": 0}) == {"alpha_in": 0.0, "alpha_out": 0.5, "bias": False}


class _Shift(nn.Module):
    """A toy user variant: a pointwise conv of a shifted input."""

    def __init__(self, cin, cout, stride, shift):
        super().__init__()
        self.shift, self.stride = shift, stride
        self.pointwise = nn.Conv2d(cin, cout, 1, stride)

    def forward(self, x):
        return self.pointwise(torch.roll(x, self.shift, dims=-1))


@pytest.fixture
def user_variant():
    def cost(shape, params):
        ho, wo = shape.conv_output()
        return convbench.FormulaCost(params=shape.in_channels * shape.out_channels + shape.out_channels,
                                     macs=shape.in_channels * shape.out_channels * ho * wo)

    @convbench.register_variant(
        "shift1x1", description="roll then 1x1", paper="a test", aliases=("s11",),
        params=[convbench.Param("shift", 1, "pixels to roll", minimum=0)], cost=cost,
    )
    def build_shift(cin, cout, kernel_size, stride, *, shift):
        return _Shift(cin, cout, stride, shift)

    yield "shift1x1"
    convbench.unregister_variant("shift1x1")


def test_a_user_variant_works_like_a_builtin(user_variant):
    assert user_variant in convbench.variant_names()
    module = convbench.build("s11", 4, 6, 1, 2, shift=3)
    assert module.shift == 3
    inputs = convbench.example_inputs(user_variant, 2, 4, 9, 9)
    assert module(*inputs).shape == (2, 6, 5, 5)
    cost = convbench.get_variant(user_variant).cost(4, 6, 1, 2, 9, 9)
    assert learnable_params(module) == cost.params
    assert counted_macs(module, inputs) == cost.macs
    with pytest.raises(ValueError, match="'shift' must be >= 0"):
        convbench.build(user_variant, 4, 6, shift=-1)


def test_a_name_cannot_be_registered_twice(user_variant):
    with pytest.raises(ValueError, match="already registered"):
        convbench.register_variant("conv", description="", paper="")(lambda *a, **k: None)
    with pytest.raises(ValueError, match="already registered"):
        convbench.register_variant("other", description="", paper="", aliases=("s11",))(lambda *a, **k: None)


def test_example_inputs_are_seeded_and_typed():
    a = convbench.example_inputs("conv", 2, 3, 5, 6, seed=1, dtype=torch.float64)
    b = convbench.example_inputs("conv", 2, 3, 5, 6, seed=1, dtype=torch.float64)
    assert len(a) == 1 and a[0].shape == (2, 3, 5, 6) and a[0].dtype == torch.float64
    assert torch.equal(a[0], b[0])


def test_octave_inputs_are_a_high_low_pair():
    high, low = convbench.example_inputs("octave", 2, 8, 16, 12, alpha_in=0.25)
    assert high.shape == (2, 6, 16, 12) and low.shape == (2, 2, 8, 6)
    (only,) = convbench.example_inputs("octave", 2, 8, 16, 12, alpha_in=0.0)
    assert only.shape == (2, 8, 16, 12)
