"""Numerical identities: each variant equals its definition written out by hand."""

from __future__ import annotations

import cmath
import math

import pytest
import torch
import torch.nn.functional as F

import convbench
from convbench.variants.xsep import PAD_SIDES, symmetric_groups

SHAPES = [(7, 9, 1), (8, 12, 1), (9, 9, 2), (8, 12, 2)]  # (H, W, stride): odd, even, stride 1 and 2


def randomise_batchnorm(module: torch.nn.Module) -> None:
    for bn in module.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            c = bn.num_features
            bn.running_mean.copy_(torch.randn(c))
            bn.running_var.copy_(torch.rand(c) * 2 + 0.2)
            bn.weight.data.copy_(torch.randn(c))
            bn.bias.data.copy_(torch.randn(c))


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("h,w,stride", SHAPES)
@pytest.mark.parametrize("k,groups", [(3, 1), (5, 1), (3, 4)])
def test_ac_fused_equals_unfused(h, w, stride, k, groups):
    block = convbench.build("ac", 8, 16, k, stride, groups=groups)
    randomise_batchnorm(block)
    block.eval()
    fused = block.fuse()
    assert isinstance(fused, torch.nn.Conv2d) and fused.bias is not None
    x = torch.randn(3, 8, h, w)
    with torch.no_grad():
        assert relative_error(fused(x), block(x)) < 1e-5


def test_ac_deploy_builds_one_conv_with_bias():
    module = convbench.build("ac", 8, 16, 3, deploy=True)
    assert type(module) is torch.nn.Conv2d and module.bias is not None and module.kernel_size == (3, 3)


@pytest.mark.parametrize("h,w,stride", SHAPES)
@pytest.mark.parametrize("activation", ["abs", "relu", "none"])
def test_stft_equals_reference(h, w, stride, activation):
    fast = convbench.build("stft", 6, 10, 3, stride, activation=activation)
    reference = convbench.build("stft_reference", 6, 10, 3, stride, activation=activation)
    reference.load_state_dict(fast.state_dict())
    x = torch.randn(2, 6, h, w)
    with torch.no_grad():
        torch.testing.assert_close(fast.transform(x), reference.transform(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(fast(x), reference(x), rtol=1e-5, atol=1e-5)


def test_stft_state_dicts_are_interchangeable():
    fast = convbench.build("stft", 4, 8, 5, bias=True)
    reference = convbench.build("stft_reference", 4, 8, 5, bias=True)
    assert fast.state_dict().keys() == reference.state_dict().keys()
    fast.load_state_dict(reference.state_dict())  # strict: raises on any mismatch
    torch.testing.assert_close(fast.pointwise.weight, reference.pointwise.weight)


@pytest.mark.parametrize("k", [3, 5])
def test_stft_maps_follow_the_definition(k):
    """Map 8c + 2i (+1) is the real (imaginary) part of sum_y x(p + y) exp(-j 2 pi v_i . y)."""
    c, h, w = 3, 9, 8
    module = convbench.build("stft", c, 4, k)
    x = torch.randn(1, c, h, w, dtype=torch.float64)
    with torch.no_grad():
        maps = module.double().transform(x)
    a = 1 / k
    half = (k - 1) // 2
    freqs = [(a, 0), (0, a), (a, a), (a, -a)]
    for channel, row, col in [(0, 4, 4), (2, 0, 7), (1, 8, 0), (1, 3, 5)]:
        for i, (v_row, v_col) in enumerate(freqs):
            value = 0j
            for dy in range(-half, half + 1):
                for dx in range(-half, half + 1):
                    r, q = row + dy, col + dx
                    if 0 <= r < h and 0 <= q < w:
                        value += x[0, channel, r, q].item() * cmath.exp(-2j * math.pi * (v_row * dy + v_col * dx))
            assert maps[0, 8 * channel + 2 * i, row, col].item() == pytest.approx(value.real, abs=1e-6)
            assert maps[0, 8 * channel + 2 * i + 1, row, col].item() == pytest.approx(value.imag, abs=1e-6)


@pytest.mark.parametrize("name", ["stft", "stft_reference"])
@pytest.mark.parametrize("stride", [1, 2])
def test_stft_is_channelwise(name, stride):
    c = 5
    module = convbench.build(name, c, 7, 3, stride)
    x = torch.randn(1, c, 10, 11)
    with torch.no_grad():
        base = module.transform(x)
        for channel in range(c):
            bumped = x.clone()
            bumped[:, channel] += torch.randn(10, 11)
            changed = (module.transform(bumped) - base).abs().amax(dim=(0, 2, 3)) > 0
            expected = torch.zeros(8 * c, dtype=torch.bool)
            expected[8 * channel : 8 * channel + 8] = True
            assert torch.equal(changed, expected)


def test_stft_bases_are_buffers_not_parameters():
    module = convbench.build("stft", 4, 8, 3)
    names = {name for name, _ in module.named_parameters()}
    assert names == {"pointwise.weight"}
    assert "basis" in module.state_dict() and not module.basis.requires_grad


@pytest.mark.parametrize("h,w", [(8, 12), (6, 6)])
def test_octave_with_alpha_zero_is_conv(h, w):
    """At stride 1; stride 2 is pooling then conv (official code), covered by the next test."""
    octave = convbench.build("octave", 8, 16, 3, alpha_in=0.0, alpha_out=0.0)
    conv = convbench.build("conv", 8, 16, 3)
    conv.weight.data.copy_(octave.high_to_high.weight)
    x = torch.randn(2, 8, h, w)
    with torch.no_grad():
        torch.testing.assert_close(octave(x), conv(x))


def _conv(x, conv):
    return F.conv2d(x, conv.weight, conv.bias, padding=conv.padding)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("alpha_in,alpha_out", [(0.5, 0.5), (0.0, 0.25), (0.25, 0.0), (0.75, 0.5),
                                                (0.0, 0.0)])
def test_octave_matches_its_definition(stride, alpha_in, alpha_out):
    """Y_h = HH(x_h) + up(LH(x_l)), Y_l = LL(x_l) + HL(pool(x_h)); stride 2 pools the inputs first
    and reads x_l unpooled for low->high, as the official code."""
    cin, cout, h, w = 8, 12, 8, 16
    module = convbench.build("octave", cin, cout, 3, stride, alpha_in=alpha_in, alpha_out=alpha_out)
    inputs = convbench.example_inputs("octave", 2, cin, h, w, stride=stride, alpha_in=alpha_in)
    x_h = inputs[0]
    x_l = inputs[1] if len(inputs) > 1 else None
    pool = lambda t: F.avg_pool2d(t, 2)  # noqa: E731
    up = lambda t: t.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # noqa: E731
    hh_in = pool(x_h) if stride == 2 else x_h
    y_h = _conv(hh_in, module.high_to_high)
    if x_l is not None:
        from_low = _conv(x_l, module.low_to_high)
        y_h = y_h + (up(from_low) if stride == 1 else from_low)
    expected = [y_h]
    if alpha_out > 0:
        y_l = _conv(pool(hh_in), module.high_to_low)
        if x_l is not None:
            y_l = y_l + _conv(pool(x_l) if stride == 2 else x_l, module.low_to_low)
        expected.append(y_l)
    with torch.no_grad():
        out = module(*inputs)
        out = list(out) if isinstance(out, tuple) else [out]
        assert len(out) == len(expected)
        for got, want in zip(out, expected):
            torch.testing.assert_close(got, want)


@pytest.mark.parametrize("h,w,stride", SHAPES)
@pytest.mark.parametrize("multiplier", [1, 3])
def test_depthwise_shared_equals_depthwise_with_tied_weights(h, w, stride, multiplier):
    c = 5
    shared = convbench.build("depthwise_shared", c, multiplier * c, 3, stride, bias=True)
    dense = convbench.build("depthwise", c, multiplier * c, 3, stride, bias=True)
    dense.weight.data.copy_(shared.weight.repeat(c, 1, 1, 1))
    dense.bias.data.copy_(torch.randn(multiplier).repeat(c))
    shared.bias.data.copy_(dense.bias[:multiplier])
    x = torch.randn(2, c, h, w)
    with torch.no_grad():
        torch.testing.assert_close(shared(x), dense(x))


def test_depthwise_channel_j_reads_input_channel_j_div_m():
    c, m = 4, 3
    module = convbench.build("depthwise", c, m * c, 3)
    x = torch.zeros(1, c, 6, 6)
    x[0, 2] = torch.randn(6, 6)
    with torch.no_grad():
        nonzero = module(x).abs().amax(dim=(0, 2, 3)) > 0
    assert [j for j in range(m * c) if nonzero[j]] == [j for j in range(m * c) if j // m == 2]


@pytest.mark.parametrize("h,w,stride", SHAPES)
@pytest.mark.parametrize("norm_act", [False, True])
def test_separable_is_depthwise_then_pointwise(h, w, stride, norm_act):
    module = convbench.build("separable", 6, 10, 3, stride, norm_act=norm_act, bias=True).eval()
    randomise_batchnorm(module)
    x = torch.randn(2, 6, h, w)
    dw = F.conv2d(x, module.depthwise.weight, stride=stride, padding=1, groups=6)
    if norm_act:
        bn = module.norm_act[0]
        dw = F.relu(F.batch_norm(dw, bn.running_mean, bn.running_var, bn.weight, bn.bias, eps=bn.eps))
    expected = F.conv2d(dw, module.pointwise.weight, module.pointwise.bias)
    with torch.no_grad():
        torch.testing.assert_close(module(x), expected)


@pytest.mark.parametrize("h,w,stride", SHAPES)
@pytest.mark.parametrize("padding", ["tl", "tr", "bl", "br", "symmetric"])
def test_xsep_matches_its_definition(h, w, stride, padding):
    c, k = 6, 5
    module = convbench.build("xsep", c, 8, k, stride, padding=padding)
    x = torch.randn(2, c, h, w)
    directions = [padding] * c if padding != "symmetric" else [
        d for d, n in zip(("br", "tl", "bl", "tr"), symmetric_groups(c)) for _ in range(n)
    ]
    # Pad each channel with zeros on its own sides, then a VALID 2 x 2 conv per channel.
    y = torch.cat([
        F.conv2d(F.pad(x[:, i : i + 1], PAD_SIDES[d]), module.dw_2x2.weight[i : i + 1])
        for i, d in enumerate(directions)
    ], dim=1)
    y = F.conv2d(y, module.dw_1xk.weight, stride=(1, stride), padding=(0, k // 2), groups=c)
    y = F.conv2d(y, module.dw_kx1.weight, stride=(stride, 1), padding=(k // 2, 0), groups=c)
    expected = F.conv2d(y, module.pointwise.weight)
    with torch.no_grad():
        torch.testing.assert_close(module(x), expected)


@pytest.mark.parametrize("stride", [1, 2])
def test_stft_blocks_are_their_parts_put_together(stride):
    x = torch.randn(2, 6, 9, 10)
    block1 = convbench.build("stft_block1", 6, 8, 3, stride)
    assert block1.stft_large.basis.shape[-1] == 5
    expected = F.conv2d(torch.cat([block1.stft_small(x), block1.stft_large(x)], 1), block1.mix.weight)
    block2 = convbench.build("stft_block2", 6, 8, 3, stride, bottleneck=0.5)
    squeezed = F.conv2d(x, block2.squeeze.weight)
    direct = F.conv2d(x, block2.direct.weight, stride=stride)
    expected2 = F.conv2d(torch.cat([block2.stft_small(squeezed), block2.stft_large(squeezed), direct], 1),
                         block2.mix.weight)
    with torch.no_grad():
        torch.testing.assert_close(block1(x), expected)
        torch.testing.assert_close(block2(x), expected2)


def test_xsep_block_adds_the_residual_only_when_the_shape_is_kept():
    keep = convbench.build("xsep_block", 8, 8, 5).eval()
    change = convbench.build("xsep_block", 8, 16, 5, 2).eval()
    x = torch.randn(1, 8, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(keep(x), keep.body(x) + x)
        assert change(x).shape == (1, 16, 6, 6)
    assert type(keep.body[3].dw_2x2).__name__ == "Conv2d" and keep.body[3].padding == "symmetric"
