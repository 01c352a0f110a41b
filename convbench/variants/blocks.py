"""The seed posts' blocks, registered so they are counted and timed like any layer.

``stft_block1`` / ``stft_block2``: the Depthwise-STFT blocks of Kumawat & Raman, "Depthwise-STFT
based separable Convolutional Neural Networks", ICASSP 2020, with STFT branches of kernel k and
k + 2 (3 x 3 and 5 x 5 at the default k = 3). ``xsep_block``: a MobileNetV3 inverted residual
(Howard et al., ICCV 2019) whose k x k depthwise conv is XSepConv's 2 x 2 + 1 x k + k x 1
(Chen et al., arXiv 2002.12046), with squeeze-and-excite.
"""

from __future__ import annotations

import torch
from torch import nn

from convbench.variants.inverted_residual import InvertedResidual, make_divisible
from convbench.registry import FormulaCost, LayerShape, Param, register_variant
from convbench.variants._checks import check_odd_kernel
from convbench.variants.stft import ACTIVATIONS, DepthwiseSTFTConv2d, _stft_cost
from convbench.variants.xsep import DIRECTIONS, XSepConv2d, _xsep_cost

STFT_PAPER = "Kumawat & Raman, Depthwise-STFT based separable CNNs, ICASSP 2020"


class STFTBlock1(nn.Module):
    """Two Depthwise-STFT layers (kernel k and k + 2, C_in -> C_in each) side by side,
    concatenated, then a 1 x 1 conv 2 C_in -> C_out."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, activation: str):
        super().__init__()
        check_odd_kernel(kernel_size, "stft_block1", "the STFT windows are centred")
        self.stft_small = DepthwiseSTFTConv2d(in_channels, in_channels, kernel_size, stride, activation)
        self.stft_large = DepthwiseSTFTConv2d(in_channels, in_channels, kernel_size + 2, stride, activation)
        self.mix = nn.Conv2d(2 * in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(torch.cat([self.stft_small(x), self.stft_large(x)], dim=1))


class STFTBlock2(nn.Module):
    """A 1 x 1 squeeze C_in -> b feeding STFT layers of kernel k and k + 2 (b -> b each), a 1 x 1
    C_in -> C_out path beside them, all concatenated and mixed by a 1 x 1 (C_out + 2b -> C_out)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, activation: str,
                 bottleneck: int):
        super().__init__()
        check_odd_kernel(kernel_size, "stft_block2", "the STFT windows are centred")
        b = bottleneck
        self.squeeze = nn.Conv2d(in_channels, b, 1, bias=False)
        self.stft_small = DepthwiseSTFTConv2d(b, b, kernel_size, stride, activation)
        self.stft_large = DepthwiseSTFTConv2d(b, b, kernel_size + 2, stride, activation)
        self.direct = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)
        self.mix = nn.Conv2d(out_channels + 2 * b, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = self.squeeze(x)
        return self.mix(torch.cat([self.stft_small(squeezed), self.stft_large(squeezed), self.direct(x)], dim=1))


def _stft_layer(shape: LayerShape, channels: int, kernel_size: int, activation: str) -> FormulaCost:
    layer = LayerShape(channels, channels, kernel_size, shape.stride, shape.height, shape.width)
    return _stft_cost(layer, {"activation": activation, "bias": False})


def _block1_cost(shape: LayerShape, params: dict) -> FormulaCost:
    c, k = shape.in_channels, shape.kernel_size
    small, large = (_stft_layer(shape, c, size, params["activation"]) for size in (k, k + 2))
    ho, wo = shape.conv_output()
    mix = 2 * c * shape.out_channels
    return FormulaCost(params=small.params + large.params + mix,
                       fixed_weights=small.fixed_weights + large.fixed_weights,
                       macs=small.macs + large.macs + mix * ho * wo, macs_fixed=small.macs_fixed + large.macs_fixed)


def _bottleneck(in_channels: int, ratio: float) -> int:
    return max(1, int(in_channels * ratio))


def _block2_cost(shape: LayerShape, params: dict) -> FormulaCost:
    c_in, c_out, k = shape.in_channels, shape.out_channels, shape.kernel_size
    b = _bottleneck(c_in, params["bottleneck"])
    small, large = (_stft_layer(shape, b, size, params["activation"]) for size in (k, k + 2))
    ho, wo = shape.conv_output()
    squeeze, direct, mix = c_in * b, c_in * c_out, (c_out + 2 * b) * c_out
    return FormulaCost(
        params=squeeze + small.params + large.params + direct + mix,
        fixed_weights=small.fixed_weights + large.fixed_weights,
        macs=squeeze * shape.height * shape.width + small.macs + large.macs + (direct + mix) * ho * wo,
        macs_fixed=small.macs_fixed + large.macs_fixed,
    )


ACTIVATION = Param("activation", "abs", "nonlinearity between each STFT and its 1 x 1", choices=ACTIVATIONS,
                   open_choice=True)


@register_variant(
    "stft_block1",
    description="Depthwise-STFT Block1: STFT layers of kernel k and k + 2 side by side, then 1 x 1",
    paper=STFT_PAPER,
    params=(ACTIVATION,),
    cost=_block1_cost,
)
def build_stft_block1(in_channels, out_channels, kernel_size, stride, *, activation):
    return STFTBlock1(in_channels, out_channels, kernel_size, stride, activation)


@register_variant(
    "stft_block2",
    description="Depthwise-STFT Block2: 1 x 1 squeeze, STFT k and k + 2, a 1 x 1 path beside, 1 x 1 mix",
    paper=STFT_PAPER,
    params=(ACTIVATION,
            Param("bottleneck", 0.5, "squeezed channels b as a share of in_channels", minimum=0.0,
                  open_choice=True)),
    cost=_block2_cost,
)
def build_stft_block2(in_channels, out_channels, kernel_size, stride, *, activation, bottleneck):
    return STFTBlock2(in_channels, out_channels, kernel_size, stride, activation,
                      _bottleneck(in_channels, bottleneck))


def _xsep_block_channels(in_channels: int, expand_ratio: float) -> int:
    return max(1, round(in_channels * expand_ratio))


def _xsep_block_cost(shape: LayerShape, params: dict) -> FormulaCost:
    c_in, c_out = shape.in_channels, shape.out_channels
    exp = _xsep_block_channels(c_in, params["expand_ratio"])
    ho, wo = shape.conv_output()
    params_, macs = 0, 0
    if exp != c_in:
        params_ += c_in * exp + 2 * exp
        macs += c_in * exp * shape.height * shape.width
    depthwise = _xsep_cost(LayerShape(exp, exp, shape.kernel_size, shape.stride, shape.height, shape.width),
                           {"pointwise": False, "norm_act": False, "bias": False})
    params_ += depthwise.params + 2 * exp
    macs += depthwise.macs
    if params["se"]:
        squeeze = make_divisible(exp // 4)
        params_ += 2 * exp * squeeze + squeeze + exp
        macs += 2 * exp * squeeze
    params_ += exp * c_out + 2 * c_out
    macs += exp * c_out * ho * wo
    return FormulaCost(params=params_, macs=macs)


@register_variant(
    "xsep_block",
    description="MobileNetV3 inverted residual with XSepConv as its depthwise part, and SE",
    paper="Chen et al., XSepConv, arXiv 2002.12046; Howard et al., Searching for MobileNetV3, ICCV 2019",
    params=(Param("expand_ratio", 4.0, "expanded channels as a multiple of in_channels", minimum=0.0),
            Param("se", True, "squeeze-and-excite on the expanded channels"),
            Param("activation", "hswish", "activation after the expand and the depthwise part",
                  choices=("hswish", "relu")),
            Param("padding", "symmetric", "2 x 2 padding direction", choices=DIRECTIONS, open_choice=True)),
    cost=_xsep_block_cost,
)
def build_xsep_block(in_channels, out_channels, kernel_size, stride, *, expand_ratio, se, activation, padding):
    check_odd_kernel(kernel_size, "xsep_block", "the 1 x k and k x 1 convs pad k // 2 to keep the size")
    expanded = _xsep_block_channels(in_channels, expand_ratio)

    def xsep_depthwise(channels: int, k: int, s: int) -> nn.Module:
        return XSepConv2d(channels, channels, k, s, padding=padding, pointwise=False)

    return InvertedResidual(in_channels, expanded, out_channels, kernel_size, stride, se, activation,
                            depthwise=xsep_depthwise)
