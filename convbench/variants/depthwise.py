"""Depthwise convolution, its shared-kernel form, and the depthwise-separable conv.

Depthwise-separable: Howard et al., "MobileNets: Efficient Convolutional Neural Networks for
Mobile Vision Applications", arXiv 1704.04861 (2017), section 3.1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from convbench.registry import FormulaCost, LayerShape, Param, register_variant
from convbench.variants._checks import check_multiplier
from convbench.variants.plain import BIAS, same_conv


def _depthwise_cost(shape: LayerShape, params: dict) -> FormulaCost:
    ho, wo = shape.conv_output()
    weights = shape.out_channels * shape.kernel_size**2
    return FormulaCost(params=weights + (shape.out_channels if params["bias"] else 0),
                       macs=weights * ho * wo)


@register_variant(
    "depthwise",
    description="depthwise conv: one k x k filter per (input channel, multiplier) pair",
    paper="Howard et al., MobileNets, arXiv 1704.04861, 2017",
    params=(BIAS,),
    cost=_depthwise_cost,
    notes="out_channels = m * in_channels; output channel j reads input channel j // m",
)
def build_depthwise(in_channels, out_channels, kernel_size, stride, *, bias):
    check_multiplier(in_channels, out_channels, "depthwise")
    return same_conv(in_channels, out_channels, kernel_size, stride, groups=in_channels, bias=bias)


class SharedDepthwiseConv2d(nn.Module):
    """A depthwise conv whose m kernels are shared by every input channel.

    Channels are folded into the batch, so one ``(m, 1, k, k)`` weight serves all of them without
    being copied per call. Output channel ``c * m + q`` is input channel ``c`` under kernel ``q``,
    the same layout as ``nn.Conv2d(C, m * C, k, groups=C)``.
    """

    def __init__(self, in_channels: int, multiplier: int, kernel_size: int, stride: int = 1,
                 bias: bool = False):
        super().__init__()
        self.in_channels = in_channels
        self.multiplier = multiplier
        self.stride = stride
        self.padding = (kernel_size - 1) // 2
        self.weight = nn.Parameter(torch.empty(multiplier, 1, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(multiplier)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        y = F.conv2d(x.reshape(n * c, 1, h, w), self.weight, self.bias, self.stride, self.padding)
        return y.reshape(n, c * self.multiplier, y.shape[-2], y.shape[-1])


def _shared_cost(shape: LayerShape, params: dict) -> FormulaCost:
    ho, wo = shape.conv_output()
    m = shape.out_channels // shape.in_channels
    return FormulaCost(params=m * shape.kernel_size**2 + (m if params["bias"] else 0),
                       macs=shape.out_channels * shape.kernel_size**2 * ho * wo)


@register_variant(
    "depthwise_shared",
    description="depthwise conv with one set of m kernels shared by all channels",
    paper="shared-kernel depthwise conv (no paper; params m*k^2, MACs as depthwise)",
    params=(Param("bias", False, "add a learnable bias per kernel (shared across channels)"),),
    cost=_shared_cost,
)
def build_depthwise_shared(in_channels, out_channels, kernel_size, stride, *, bias):
    multiplier = check_multiplier(in_channels, out_channels, "depthwise_shared")
    return SharedDepthwiseConv2d(in_channels, multiplier, kernel_size, stride, bias=bias)


class SeparableConv2d(nn.Module):
    """Depthwise k x k (carrying the stride), optional BN + ReLU, then pointwise 1 x 1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 norm_act: bool = False, bias: bool = False):
        super().__init__()
        self.depthwise = same_conv(in_channels, in_channels, kernel_size, stride, groups=in_channels)
        self.norm_act = (nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True))
                         if norm_act else nn.Identity())
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.norm_act(self.depthwise(x)))


def _separable_cost(shape: LayerShape, params: dict) -> FormulaCost:
    ho, wo = shape.conv_output()
    c, k = shape.in_channels, shape.kernel_size
    extra = (2 * c if params["norm_act"] else 0) + (shape.out_channels if params["bias"] else 0)
    return FormulaCost(params=c * k**2 + c * shape.out_channels + extra,
                       macs=ho * wo * c * (k**2 + shape.out_channels))


@register_variant(
    "separable",
    aliases=("dsc",),
    description="depthwise-separable conv: depthwise k x k then pointwise 1 x 1",
    paper="Howard et al., MobileNets, arXiv 1704.04861, 2017",
    params=(Param("norm_act", False, "BN + ReLU between depthwise and pointwise", open_choice=True),
            Param("bias", False, "add a learnable bias to the pointwise conv")),
    cost=_separable_cost,
)
def build_separable(in_channels, out_channels, kernel_size, stride, *, norm_act, bias):
    return SeparableConv2d(in_channels, out_channels, kernel_size, stride, norm_act=norm_act, bias=bias)
