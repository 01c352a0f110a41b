"""Transposed convolution, the learnable up-sampling layer: Zeiler et al., "Deconvolutional
Networks", CVPR 2010; as an up-sampler in Long et al., "Fully Convolutional Networks for Semantic
Segmentation", CVPR 2015.

The mirror of a strided conv: with ``stride`` s it up-samples ``H x W`` to ``s*H x s*W`` (stride 1
keeps the size). MACs use the input size (each input pixel meets every weight once), as fvcore,
torch and ptflops >= 0.7.5 count them.
"""

from __future__ import annotations

from torch import nn

from convbench.registry import FormulaCost, LayerShape, Param, register_variant
from convbench.variants._checks import check_groups


def transposed_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 2,
                    groups: int = 1, bias: bool = False) -> nn.ConvTranspose2d:
    """``ConvTranspose2d`` with padding ``(k - 1) // 2`` and the output padding that gives exactly
    ``stride * H x stride * W``."""
    padding = (kernel_size - 1) // 2
    output_padding = stride + 2 * padding - kernel_size
    if not 0 <= output_padding < stride:
        raise ValueError(
            f"transposed: kernel_size={kernel_size} cannot up-sample by exactly stride={stride}; "
            f"use an odd kernel_size or stride >= 2"
        )
    return nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding,
                              output_padding, groups=groups, bias=bias)


def _transposed_cost(shape: LayerShape, params: dict) -> FormulaCost:
    weights = shape.in_channels * (shape.out_channels // params["groups"]) * shape.kernel_size**2
    return FormulaCost(params=weights + (shape.out_channels if params["bias"] else 0),
                       macs=weights * shape.height * shape.width)


@register_variant(
    "transposed",
    description="transposed conv: learnable up-sampling, stride*H x stride*W out",
    paper="Zeiler et al., Deconvolutional Networks, CVPR 2010",
    params=(Param("groups", 1, "channel groups", minimum=1),
            Param("bias", False, "add a learnable bias per output channel")),
    cost=_transposed_cost,
    drop_in=False,
    notes="an up-sampling layer: the stride is the up-sampling factor, the output stride*H x stride*W",
)
def build_transposed(in_channels, out_channels, kernel_size, stride, *, groups, bias):
    check_groups(groups, in_channels, out_channels)
    return transposed_conv(in_channels, out_channels, kernel_size, stride, groups, bias)
