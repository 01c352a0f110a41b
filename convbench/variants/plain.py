"""Plain, grouped and dilated convolution: the baseline and its two oldest relatives.

Group conv: Krizhevsky et al., "ImageNet Classification with Deep Convolutional Neural Networks",
NeurIPS 2012. Dilated conv: Yu & Koltun, "Multi-Scale Context Aggregation by Dilated
Convolutions", ICLR 2016.
"""

from __future__ import annotations

from torch import nn

from convbench.registry import FormulaCost, LayerShape, Param, register_variant
from convbench.variants._checks import check_groups

BIAS = Param("bias", False, "add a learnable bias per output channel")


def conv_cost(shape: LayerShape, params: dict) -> FormulaCost:
    groups = params.get("groups", 1)
    ho, wo = shape.conv_output(params.get("dilation", 1))
    weights = shape.out_channels * (shape.in_channels // groups) * shape.kernel_size**2
    return FormulaCost(
        params=weights + (shape.out_channels if params["bias"] else 0),
        macs=weights * ho * wo,
    )


def same_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, *,
              groups: int = 1, dilation: int = 1, bias: bool = False) -> nn.Conv2d:
    """``nn.Conv2d`` with "same" padding ``dilation * (kernel_size - 1) // 2``."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                     padding=dilation * (kernel_size - 1) // 2, dilation=dilation,
                     groups=groups, bias=bias)


@register_variant(
    "conv",
    description="plain convolution, the baseline",
    paper="LeCun et al., Gradient-based learning applied to document recognition, Proc. IEEE 1998",
    params=(BIAS,),
    cost=conv_cost,
)
def build_conv(in_channels, out_channels, kernel_size, stride, *, bias):
    return same_conv(in_channels, out_channels, kernel_size, stride, bias=bias)


@register_variant(
    "group",
    description="grouped convolution: channels split into independent groups",
    paper="Krizhevsky et al., ImageNet Classification with Deep CNNs, NeurIPS 2012",
    params=(Param("groups", 4, "number of channel groups; must divide in and out channels", minimum=1),
            BIAS),
    cost=conv_cost,
)
def build_group(in_channels, out_channels, kernel_size, stride, *, groups, bias):
    check_groups(groups, in_channels, out_channels)
    return same_conv(in_channels, out_channels, kernel_size, stride, groups=groups, bias=bias)


@register_variant(
    "dilated",
    description="dilated (atrous) convolution: same weights, wider receptive field",
    paper="Yu & Koltun, Multi-Scale Context Aggregation by Dilated Convolutions, ICLR 2016",
    params=(Param("dilation", 2, "spacing between kernel taps", minimum=1), BIAS),
    cost=conv_cost,
)
def build_dilated(in_channels, out_channels, kernel_size, stride, *, dilation, bias):
    return same_conv(in_channels, out_channels, kernel_size, stride, dilation=dilation, bias=bias)
