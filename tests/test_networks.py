"""Reference networks (counts against the published ones) and swapping convs in whole models."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import convbench
from convbench.swap import targets
from convbench.variants.depthwise import SeparableConv2d


def test_resnet18_matches_the_published_counts():
    cost = convbench.count(convbench.build_model("resnet18"), torch.randn(1, 3, 224, 224),
                           reference_counters=False)
    assert cost.params == pytest.approx(11.7e6, rel=0.02)   # 11,689,512 exactly, as torchvision
    assert cost.macs == pytest.approx(1.82e9, rel=0.02)     # 1.814 G: convs + fc


def test_resnet50_matches_the_published_counts():
    cost = convbench.count(convbench.build_model("resnet50"), torch.randn(1, 3, 224, 224),
                           reference_counters=False)
    assert cost.params == 25_557_032                         # torchvision's resnet50, exactly
    assert cost.macs == pytest.approx(4.1e9, rel=0.01)      # Octave paper, Table 2 baseline (He et al.: 3.8 G,
    assert cost.macs == pytest.approx(4.09e9, rel=0.001)    # striding in the 1 x 1); torchvision's published 4.09 G


def test_mobilenetv3_small_matches_the_published_counts():
    cost = convbench.count(convbench.build_model("mobilenetv3_small"), torch.randn(1, 3, 224, 224),
                           reference_counters=False)
    assert cost.params == pytest.approx(2.5e6, rel=0.05)    # 2,542,856, as torchvision
    assert cost.macs == pytest.approx(56e6, rel=0.05)       # 56.51 M, of which SE 1 x 1 convs 0.46 M
    se = [layer for layer in cost.layers if layer.name.endswith(("reduce", "expand"))]
    assert sum(layer.macs for layer in se) == 458752


def test_unknown_model_suggests_a_name():
    with pytest.raises(ValueError, match="did you mean 'resnet18'"):
        convbench.build_model("resnet-18")


def _small_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, 1, 1, bias=False),     # 0: dense 3x3, in 3 -> depthwise cannot take it
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, 2, 1, bias=True),     # 2: dense, strided, with bias
        nn.Conv2d(16, 16, 1, bias=False),         # 3: 1x1: not targeted by default
        nn.Conv2d(16, 16, 5, 1, 2, groups=16),    # 4: depthwise 5x5: not targeted by default
        nn.Conv2d(16, 16, 3, 1, 1, bias=False),   # 5: dense 3x3
    )


def test_swap_replaces_every_targeted_conv_and_nothing_else():
    net = _small_net()
    x = torch.randn(2, 3, 16, 16)
    swapped = convbench.swap(net, "separable")
    assert targets(net) == ["0", "2", "5"]
    for index in ("0", "2", "5"):
        assert isinstance(swapped.get_submodule(index), SeparableConv2d)
    assert swapped[2].depthwise.stride == (2, 2) and swapped[2].pointwise.bias is not None
    assert swapped[5].pointwise.bias is None
    for index in ("1", "3", "4"):
        assert type(swapped[int(index)]) is type(net[int(index)])
        assert all(torch.equal(a, b) for a, b in zip(swapped[int(index)].parameters(),
                                                     net[int(index)].parameters()))
    assert swapped(x).shape == net(x).shape
    assert all(type(m) is nn.Conv2d for m in (net[0], net[2], net[5]))  # the original is unchanged


def test_swap_with_where_and_skip_unfit():
    net = _small_net()
    only_depthwise_5x5 = convbench.conv_filter(min_kernel=5, groups="depthwise")
    swapped = convbench.swap(net, "xsep", where=only_depthwise_5x5)
    assert type(swapped[4]).__name__ == "XSepConv2d" and type(swapped[5]) is nn.Conv2d
    with pytest.raises(ValueError, match="cannot replace conv '0'.*out_channels=8"):
        convbench.swap(net, "depthwise")
    partly = convbench.swap(net, "depthwise", skip_unfit=True)
    assert type(partly[0]) is nn.Conv2d and partly[5].groups == 16


def test_swap_refuses_variants_that_are_not_drop_in():
    with pytest.raises(ValueError, match="octave cannot replace a conv inside a network"):
        convbench.swap(_small_net(), "octave")


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv3_small"])
@pytest.mark.parametrize("variant", ["separable", "ac", "stft", "xsep", "group"])
def test_swapped_reference_networks_keep_their_output_shape(name, variant):
    model = convbench.build_model(name, num_classes=10).eval()
    swapped = convbench.swap(model, variant, skip_unfit=True).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert swapped(x).shape == model(x).shape == (1, 10)
    kinds = {type(m).__name__ for m in swapped.modules()}
    spec_module = type(convbench.build(variant, 16, 16)).__name__
    assert spec_module in kinds


@pytest.mark.parametrize("alpha,paper_gmacs", [(0.125, 3.6), (0.25, 3.1), (0.5, 2.4), (0.75, 1.9)])
def test_oct_resnet50_matches_the_octave_paper_table_2(alpha, paper_gmacs):
    model = convbench.build_model("oct_resnet50", alpha=alpha)
    cost = convbench.count(model, torch.randn(1, 3, 224, 224), reference_counters=False)
    assert cost.macs == pytest.approx(paper_gmacs * 1e9, rel=0.02)   # "FLOPs" there are multiply-adds
    assert cost.params == 25_557_032                                   # Octave keeps ResNet-50's weights
    assert model.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 1000)


def test_oct_resnet50_refuses_a_bad_alpha():
    with pytest.raises(ValueError, match="alpha=1.0"):
        convbench.build_model("oct_resnet50", alpha=1.0)
    with pytest.raises(ValueError, match="model 'resnet50'"):
        convbench.build_model("resnet50", alpha=0.5)


def test_octave_in_resnet50_is_the_octave_resnet50_timed_against_it(tmp_path):
    from click.testing import CliRunner

    from convbench.cli import main

    config = tmp_path / "o.yaml"
    config.write_text("name: o\nmodels: [{name: resnet50, size: 224}]\n"
                      "variants: [conv, {name: octave, alpha_in: 0.5, alpha_out: 0.5}]\n")
    result = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--out", str(tmp_path / "r"), "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["variant"]: row for row in __import__("json").loads(result.stdout)["rows"]}
    assert rows["octave"]["macs"] == pytest.approx(2.4e9, rel=0.02)
    assert rows["octave"]["macs_vs_baseline"] == pytest.approx(2.4 / 4.1, rel=0.02)
    assert rows["octave"]["convs_replaced"] == 46  # stages 1-3 (39 + 3 shortcuts) and stage 4's first block (4)


def test_a_swap_that_cannot_wire_a_variant_says_why():
    with pytest.raises(ValueError, match="oct_resnet50 for resnet50"):
        convbench.swap(convbench.build_model("resnet18"), "octave")
    with pytest.raises(ValueError, match="skip_unfit=True"):
        convbench.swap(convbench.build_model("resnet18"), "group")
