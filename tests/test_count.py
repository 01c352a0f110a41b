"""convbench.count: exact counts equal the formulas, the reference counters are explained, and the
module is left as it was."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convbench
from tests.counting import counted_macs

SHAPES = [  # (C_in, C_out, k, stride, H, W)
    (8, 16, 3, 1, 8, 8),
    (12, 12, 5, 2, 12, 16),
    (16, 32, 3, 2, 7, 9),
]
PARAMS = {"group": {"groups": 4}, "octave": {"alpha_in": 0.25, "alpha_out": 0.5},
          "ac": {"deploy": False}, "xsep": {"padding": "symmetric"}}


def _cases():
    for name in convbench.variant_names():
        for cin, cout, k, s, h, w in SHAPES:
            if name == "octave" and (h % (2 * s) or w % (2 * s)):
                h, w = 8 * s, 4 * s
            yield pytest.param(name, (cin, cout, k, s, h, w), id=f"{name}-{cin}-{cout}-k{k}-s{s}-{h}x{w}")


@pytest.mark.parametrize("name,shape", list(_cases()))
def test_count_equals_the_formulas(name, shape):
    cin, cout, k, s, h, w = shape
    params = PARAMS.get(name, {})
    module = convbench.build(name, cin, cout, k, s, **params)
    inputs = convbench.example_inputs(name, 3, cin, h, w, stride=s, **params)
    cost = convbench.count(module, *inputs, reference_counters=convbench.counting.ALL_REFERENCES)
    formula = convbench.get_variant(name).cost(cin, cout, k, s, h, w, **params)
    assert cost.params == formula.params
    assert cost.fixed_weights == formula.fixed_weights
    assert cost.macs == formula.macs
    assert cost.macs == counted_macs(module, inputs)
    assert cost.flops == 2 * cost.macs
    assert cost.batch == 3 and cost.pixels == h * w
    assert cost.kmac_per_pixel == pytest.approx(formula.macs / 1000 / (h * w))
    assert cost.macs_ptflops_aten is not None


class FunctionalConv(nn.Module):
    """A conv written with F.conv2d in forward, as naive Depthwise-STFT layers are."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(16, 8, 3, 3))

    def forward(self, x):
        return F.conv2d(x, self.weight, padding=1)


def test_functional_conv_is_counted_and_ptflops_zero_is_explained():
    cost = convbench.count(FunctionalConv(), torch.randn(2, 8, 10, 10),
                           reference_counters=convbench.counting.ALL_REFERENCES)
    assert cost.macs == 16 * 8 * 9 * 100
    assert cost.macs_ptflops == 0
    assert cost.macs_ptflops_aten == cost.macs
    assert "ptflops: functional conv not counted" in cost.check
    assert cost.check != "ok"


def test_a_plain_network_checks_ok():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.Conv2d(8, 4, 1, bias=False))
    cost = convbench.count(model, torch.randn(1, 3, 6, 6))
    assert cost.check == "ok"
    assert cost.macs == cost.macs_ptflops == 36 * (8 * 3 * 9 + 4 * 8)
    assert cost.params_torchsummary == cost.params == 8 * 27 + 32


def test_ptflops_extra_ops_are_explained():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 1, bias=False))
    cost = convbench.count(model, torch.randn(1, 3, 6, 6))
    assert cost.macs_ptflops > cost.macs
    assert "non-MAC ops counted as MACs" in cost.check
    # bias adds (8 x 36) and ReLU (8 x 36) are element-wise work, not MACs
    assert cost.elem_ops == 2 * 8 * 36


def test_torchsummary_crash_is_explained():
    cost = convbench.count(convbench.build("conv", 4, 4), torch.randn(1, 4, 5, 5))
    assert cost.params_torchsummary is None
    assert "torchsummary: crashed" in cost.check


def test_reused_module_counts_params_once_and_macs_per_call():
    shared = nn.Conv2d(4, 4, 3, padding=1, bias=False)
    model = nn.Sequential(shared, nn.Identity(), shared)
    cost = convbench.count(model, torch.randn(1, 4, 6, 6))
    assert cost.params == 4 * 4 * 9
    assert cost.macs == 2 * 4 * 4 * 9 * 36
    assert cost.params_torchsummary == 2 * cost.params
    assert "reused module" in cost.check


def test_frozen_weights_are_params():
    module = convbench.build("conv", 4, 8)
    module.weight.requires_grad_(False)
    assert convbench.count(module, torch.randn(1, 4, 6, 6)).params == 8 * 4 * 9


def _hooks(module):
    return [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for m in module.modules()]


@pytest.mark.parametrize("name", ["ac", "separable", "octave", "stft"])
def test_count_leaves_the_module_as_it_was(name):
    params = {"norm_act": True} if name == "separable" else {}
    module = convbench.build(name, 8, 8, 3, **params).train()
    before_state = {k: v.clone() for k, v in module.state_dict().items()}
    before_hooks = _hooks(module)
    before_attrs = {id(m): set(vars(m)) for m in module.modules()}
    cost = convbench.count(module, *convbench.example_inputs(name, 2, 8, 8, 8, **params))
    assert cost.macs > 0
    assert all(m.training for m in module.modules())
    assert _hooks(module) == before_hooks
    assert {id(m): set(vars(m)) for m in module.modules()} == before_attrs
    after_state = module.state_dict()
    assert after_state.keys() == before_state.keys()
    for key, value in before_state.items():
        assert torch.equal(after_state[key], value), key


@pytest.mark.parametrize("name", ["ac", "separable", "octave", "stft", "xsep"])
def test_layer_rows_add_up_to_the_totals(name):
    params = {"norm_act": True} if name in ("separable", "xsep") else {}
    module = convbench.build(name, 8, 16, 3, **params)
    cost = convbench.count(module, *convbench.example_inputs(name, 2, 8, 8, 8, **params))
    table = cost.layer_table()
    for column in ("params", "fixed_weights", "macs", "elem_ops", "activation_bytes", "bytes_moved"):
        assert table[column].sum() == getattr(cost, column), column
    assert len(table) > 1


def test_stft_layer_rows_show_the_functional_conv_in_its_own_row():
    module = convbench.build("stft", 4, 8, 3)
    cost = convbench.count(module, torch.randn(1, 4, 6, 6))
    rows = {row.name: row for row in cost.layers}
    assert rows["(root)"].macs == 8 * 4 * 9 * 36 and rows["(root)"].fixed_weights == 72
    assert rows["pointwise"].macs == 8 * 4 * 8 * 36


def test_elementwise_costs_follow_the_documented_table():
    class Ops(nn.Module):
        def forward(self, x):
            y = torch.abs(x) + x                       # 2 per element
            y = F.avg_pool2d(y, 2)                     # 1 per input element
            return F.interpolate(y, scale_factor=2.0)  # nearest: 0
    x = torch.randn(2, 3, 4, 4)
    cost = convbench.count(Ops(), x)
    n = 3 * 16
    assert cost.elem_ops == 2 * n + n
    assert cost.macs == 0
    assert cost.activation_bytes == 4 * (n + n + n // 4 + n)
    assert cost.uncounted_ops == ()


def test_unknown_ops_are_listed_not_dropped():
    class Weird(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, dim=1)
    cost = convbench.count(Weird(), torch.randn(1, 2, 3, 3), reference_counters=False)
    assert cost.uncounted_ops == ("aten.cumsum",)
    assert cost.check == "not checked"


def test_count_rejects_bad_inputs():
    with pytest.raises(ValueError, match="input tensors"):
        convbench.count(convbench.build("conv", 4, 4))


@pytest.mark.parametrize("batch,bias", [(1, False), (3, False), (2, True)])
def test_plain_conv_moves_its_input_weight_and_output(batch, bias):
    cin, cout, k, h, w = 8, 16, 3, 10, 12
    module = convbench.build("conv", cin, cout, k, bias=bias)
    cost = convbench.count(module, torch.randn(batch, cin, h, w), reference_counters=False)
    weight = (cout * cin * k * k + (cout if bias else 0)) * 4
    per_image = (cin * h * w + cout * h * w) * 4
    assert cost.bytes_moved == per_image + weight / batch
    assert cost.arithmetic_intensity == pytest.approx(cost.macs / cost.bytes_moved)


def test_views_move_no_bytes_and_copies_do():
    class Reshape(nn.Module):
        def forward(self, x):
            return x.view(x.shape[0], -1).view(x.shape)
    assert convbench.count(Reshape(), torch.randn(1, 2, 3, 3), reference_counters=False).bytes_moved == 0

    class Pad(nn.Module):
        def forward(self, x):
            return F.pad(x, (1, 1, 1, 1))
    cost = convbench.count(Pad(), torch.randn(1, 2, 3, 3), reference_counters=False)
    assert cost.bytes_moved == 4 * (2 * 9 + 2 * 25)
