"""What a training step costs: backward MACs against the closed forms and torch's FlopCounterMode,
the memory a call's tensors hold against their sizes, and the measured CPU peak against a conv's
output and its kernel's workspace."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import convbench
from convbench.counting import ALL_REFERENCES
from convbench.timing.memory import cpu_peak_bytes

PARAMS = {"group": {"groups": 4}, "octave": {"alpha_in": 0.25, "alpha_out": 0.5}, "ac": {"deploy": False}}


def _variants():
    for name in convbench.variant_names():
        for shape in [(8, 16, 3, 1, 8, 8), (12, 12, 5, 2, 12, 16)]:
            yield pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape))}")


@pytest.mark.parametrize("name,shape", list(_variants()))
def test_backward_macs_equal_the_closed_form_on_every_variant(name, shape):
    """Each conv's input gradient and weight gradient cost its forward MACs; fixed weights (the
    STFT bases) have no gradient."""
    cin, cout, k, s, h, w = shape
    params = PARAMS.get(name, {})
    try:
        module = convbench.build(name, cin, cout, k, s, **params)
    except ValueError:
        pytest.skip(f"{name} does not take {shape}")
    inputs = convbench.example_inputs(name, 2, cin, h, w, stride=s, **params)
    cost = convbench.count(module, *inputs, backward=True, training=True, input_grad=True, reference_counters=False)
    formula = convbench.get_variant(name).cost(cin, cout, k, s, h, w, **params)
    assert cost.macs_backward == formula.macs_backward
    assert cost.macs_backward == 2 * cost.macs - formula.macs_fixed
    assert cost.macs_train_step == cost.macs + cost.macs_backward


@pytest.mark.parametrize("groups,torch_ratio", [(1, 2), (4, 5), (32, 33)])
def test_a_grouped_conv_backward_is_twice_its_forward_where_flop_counter_counts_it_ungrouped(groups, torch_ratio):
    conv = nn.Conv2d(32, 32, 3, padding=1, groups=groups, bias=False)
    cost = convbench.count(conv, torch.randn(2, 32, 16, 16), backward=True, input_grad=True,
                           reference_counters=("flop_counter",))
    assert cost.macs_backward == 2 * cost.macs
    assert cost.macs_train_step_flop_counter == (1 + torch_ratio) * cost.macs  # torch 2.13's formula
    if groups == 1:
        assert cost.check == "ok"
    else:
        assert "aten.convolution_backward" in cost.check and "as if the conv were not grouped" in cost.check
        assert "not explained" not in cost.check


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_networks_without_grouped_convs_agree_with_flop_counter_on_the_training_step(name):
    model = convbench.build_model(name)
    cost = convbench.count(model, torch.randn(1, 3, 64, 64), backward=True, training=True, input_grad=False,
                           reference_counters=("flop_counter",))
    assert cost.macs_train_step_flop_counter == cost.macs_train_step and cost.check == "ok"
    first = model.stem[0]
    stem = first.out_channels * first.in_channels * 49 * 32 * 32  # 7x7 stride 2 on 64x64: its input needs no gradient
    assert cost.macs_backward == 2 * cost.macs - stem


def test_mobilenet_differs_from_flop_counter_by_its_depthwise_gradients_only():
    cost = convbench.count(convbench.build_model("mobilenetv3_small"), torch.randn(1, 3, 64, 64), backward=True,
                           training=True, input_grad=False, reference_counters=("flop_counter",))
    assert cost.macs_train_step_flop_counter > cost.macs_train_step
    assert "aten.convolution_backward" in cost.check and "not explained" not in cost.check


def test_a_transformer_encoder_differs_from_flop_counter_by_the_attention_it_has_no_formula_for():
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, dropout=0.0)
    encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    length, embed, ffn = 10, 32, 64
    cost = convbench.count(encoder, torch.randn(2, length, embed), backward=True, training=True, input_grad=False,
                           reference_counters=("flop_counter",))
    projections = 4 * length * embed * embed + 2 * length * embed * ffn
    attention = 2 * length * length * embed
    assert cost.macs == 2 * (projections + attention)
    # every weight's gradient and its input's, but for the Q, K, V projection of the network's own
    # input (3 L E^2); attention: the gradients of both operands of both products
    assert cost.macs_backward == 2 * (2 * projections + 2 * attention) - 3 * length * embed * embed
    assert "_scaled_dot_product_flash_attention_for_cpu_backward" in cost.check and "no formula" in cost.check
    assert "not explained" not in cost.check


def test_a_counted_backward_leaves_the_module_as_it_was():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    convbench.count(model, torch.randn(2, 3, 8, 8), backward=True, training=True, reference_counters=ALL_REFERENCES)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_the_memory_saved_for_backward_is_the_activations_the_layers_keep():
    batch, channels, size = 2, 16, 8
    model = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
                          nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1, bias=False))
    activation = batch * channels * size * size * 4
    cost = convbench.count(model, torch.randn(batch, channels, size, size), backward=True, training=True,
                           reference_counters=False)
    # BN keeps its input and its batch mean and inverse std; ReLU its output, which the second conv also keeps
    assert cost.saved_for_backward_bytes == activation + 2 * channels * 4 + activation
    inference = convbench.count(model, torch.randn(batch, channels, size, size), reference_counters=False)
    assert inference.activation_memory_bytes == 2 * activation  # a layer's input and output at once
    assert inference.saved_for_backward_bytes is None


def test_a_single_conv_holds_its_output_and_nothing_else():
    cost = convbench.count(nn.Conv2d(8, 16, 3, padding=1), torch.randn(2, 8, 10, 10), reference_counters=False)
    assert cost.activation_memory_bytes == 2 * 16 * 10 * 10 * 4


@pytest.mark.parametrize("cin,cout,k,size,groups", [
    (16, 16, 3, 12, 1), (16, 16, 1, 12, 1), (64, 64, 3, 56, 1), (64, 64, 3, 56, 64), (3, 8, 3, 32, 1)])
def test_a_single_conv_measured_peak_is_its_output_plus_its_kernels_workspace(cin, cout, k, size, groups):
    """On the CPU a conv runs as one of: a 1x1 product (no workspace), im2col (a column buffer of
    C_in / groups x k^2 x H x W) or oneDNN (reordered copies of the input and the weights)."""
    conv = nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups, bias=False).eval()
    x = torch.randn(1, cin, size, size)
    with torch.inference_mode():
        conv(x)
        peak = cpu_peak_bytes(lambda: conv(x))
    output = cout * size * size * 4
    columns = cin // groups * k * k * size * size * 4
    reordered = (x.numel() + conv.weight.numel()) * 4
    assert peak - output in (0, columns, reordered), (peak, output)
    if k == 1:
        assert peak == output


def test_a_backward_op_that_multiplies_weights_without_a_formula_is_named(monkeypatch):
    from convbench.counting import backward_ops

    monkeypatch.delitem(backward_ops.BACKWARD_MACS, torch.ops.aten.convolution_backward)
    monkeypatch.setattr("convbench.counting.ops.flop_registry", {})  # nor torch's
    cost = convbench.count(nn.Conv2d(4, 4, 3), torch.randn(1, 4, 6, 6), backward=True, input_grad=True,
                           reference_counters=False)
    assert cost.macs_backward == 0
    assert "no MAC formula for aten.convolution_backward in the backward" in cost.check
