"""Every variant on a grid of shapes: output shape, params and MACs against the closed-form formulas
of the variant table in docs/variants.md."""

from __future__ import annotations

import pytest
import torch

import convbench
from tests.counting import as_list, counted_macs, learnable_params
from tests.shapes import BATCH, CASES, case_id, expected_output

PARAM_SETS = {
    "conv": [{}, {"bias": True}],
    "group": [{}, {"groups": 2, "bias": True}],
    "dilated": [{}, {"dilation": 3}],
    "depthwise": [{}, {"bias": True}],
    "depthwise_shared": [{}, {"bias": True}],
    "separable": [{}, {"norm_act": True, "bias": True}],
    "octave": [{}, {"alpha_in": 0.0}, {"alpha_out": 0.0}, {"alpha_in": 0.25, "alpha_out": 0.75},
               {"alpha_in": 0.0, "alpha_out": 0.0}],
    "stft": [{}, {"activation": "relu", "bias": True}],
    "stft_reference": [{}, {"activation": "none"}],
    "ac": [{}, {"deploy": True}, {"groups": 2}],
    "xsep": [{}, {"padding": "tl"}, {"padding": "br", "norm_act": True, "bias": True},
             {"pointwise": False, "bias": True}],
    "transposed": [{}, {"groups": 2, "bias": True}],
    "stft_block1": [{}, {"activation": "relu"}],
    "stft_block2": [{}, {"bottleneck": 0.25}],
    "xsep_block": [{}, {"se": False, "activation": "relu", "expand_ratio": 1.0}],
}

VARIANT_CASES = [
    pytest.param(name, params, case, id=f"{name}-{i}-{case_id(case)}")
    for name, param_sets in PARAM_SETS.items()
    for i, params in enumerate(param_sets)
    for case in CASES
]


def test_every_builtin_variant_is_covered():
    assert sorted(PARAM_SETS) == sorted(convbench.variant_names())


@pytest.mark.parametrize("name,params,case", VARIANT_CASES)
def test_shape_params_and_macs_match_the_formulas(name, params, case):
    (cin, cout), (h, w), stride, k = case
    expected = expected_output(name, cin, cout, k, stride, h, w, params)
    if expected is None:
        with pytest.raises(ValueError):
            module = convbench.build(name, cin, cout, k, stride, **params)
            module(*convbench.example_inputs(name, BATCH, cin, h, w, stride=stride, **params))
        return

    module = convbench.build(name, cin, cout, k, stride, **params).eval()
    inputs = convbench.example_inputs(name, BATCH, cin, h, w, stride=stride, **params)
    with torch.no_grad():
        outputs = as_list(module(*inputs))
    assert [tuple(t.shape) for t in outputs] == expected

    formula = convbench.get_variant(name).cost(cin, cout, k, stride, h, w, **params)
    assert learnable_params(module) == formula.params
    assert counted_macs(module, inputs) == formula.macs
    if name in ("stft", "stft_reference"):
        assert module.basis.numel() == formula.fixed_weights == 8 * k * k
    elif name.startswith("stft_block"):
        assert formula.fixed_weights == 8 * k * k + 8 * (k + 2) ** 2
    else:
        assert formula.fixed_weights == 0


@pytest.mark.parametrize("name", ["conv", "dilated", "group", "depthwise", "separable", "stft", "xsep"])
def test_paper_formulas_written_out(name):
    """The closed-form formulas spelled out once, independent of the registry's cost functions."""
    cin, cout, k, h, w = 16, 32, 5, 14, 10
    g = 4
    hw = h * w
    table = {
        "conv": (cout * cin * k * k, cout * cin * k * k * hw),
        "dilated": (cout * cin * k * k, cout * cin * k * k * hw),
        "group": (cout * (cin // g) * k * k, cout * (cin // g) * k * k * hw),
        "depthwise": (cout * k * k, cout * k * k * hw),
        "separable": (cin * k * k + cin * cout, hw * cin * (k * k + cout)),
        "stft": (8 * cin * cout, hw * (8 * cin * k * k + 8 * cin * cout)),
        "xsep": (cin * (4 + 2 * k) + cin * cout, hw * cin * (4 + 2 * k + cout)),
    }
    cost = convbench.get_variant(name).cost(cin, cout, k, 1, h, w)
    assert (cost.params, cost.macs) == table[name]


@pytest.mark.parametrize("alpha,paper_percent", [(0.125, 82), (0.25, 67), (0.5, 44), (0.75, 30)])
def test_octave_mac_ratio_matches_paper_table_1(alpha, paper_percent):
    c, k, size = 256, 3, 56  # exact splits: alpha * 256 is whole
    octave = convbench.get_variant("octave").cost(c, c, k, 1, size, size, alpha_in=alpha, alpha_out=alpha)
    conv = convbench.get_variant("conv").cost(c, c, k, 1, size, size)
    ratio = octave.macs / conv.macs
    assert ratio == pytest.approx(1 - 0.75 * alpha * (2 - alpha))
    assert round(100 * ratio) == paper_percent


def test_ac_costs_train_and_deploy():
    cin, cout, k, h = 8, 16, 3, 10
    train = convbench.get_variant("ac").cost(cin, cout, k, 1, h, h)
    deploy = convbench.get_variant("ac").cost(cin, cout, k, 1, h, h, deploy=True)
    assert train.params == (k * k + 2 * k) * cin * cout + 3 * 2 * cout
    assert train.macs == (k * k + 2 * k) * cin * cout * h * h
    assert deploy.params == k * k * cin * cout + cout
    assert deploy.macs == convbench.get_variant("conv").cost(cin, cout, k, 1, h, h).macs


def test_transposed_macs_use_the_input_size():
    cost = convbench.get_variant("transposed").cost(16, 8, 3, 1, 32, 32)
    assert cost.macs == 16 * 8 * 9 * 32 * 32


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_transposed_stride_is_its_up_sampling_factor(stride):
    layer = convbench.build("transposed", 16, 32, 3, stride=stride)
    assert isinstance(layer, torch.nn.ConvTranspose2d) and layer.stride == (stride, stride)
    x = torch.randn(1, 16, 7, 9)
    assert layer(x).shape == (1, 32, 7 * stride, 9 * stride)
    assert convbench.count(layer, x).macs == 16 * 32 * 9 * 7 * 9  # the input size, whatever the stride
