"""Asymmetric convolution block: Ding et al., "ACNet: Strengthening the Kernel Skeletons for
Powerful CNN via Asymmetric Convolution Blocks", ICCV 2019 (official code DingXiaoH/ACNet).

Training form: k x k, 1 x k and k x 1 branches, each with its own BN, summed. Deploy form: one
k x k conv with bias, obtained by folding each BN into its branch and adding the 1 x k and k x 1
kernels into the centre row and column (exact with BN in eval mode).
"""

from __future__ import annotations

import torch
from torch import nn

from convbench.registry import FormulaCost, LayerShape, Param, register_variant
from convbench.variants._checks import check_groups, check_odd_kernel


def _conv_bn(in_channels, out_channels, kernel, stride, padding, groups) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, padding, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
    )


def fold_batchnorm(weight: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """``(W * gamma / sigma, beta - mu * gamma / sigma)`` with ``sigma = sqrt(var + eps)``."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return weight * scale.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * scale


class AsymmetricConvBlock(nn.Module):
    """Square + horizontal + vertical conv-BN branches, summed; :meth:`fuse` gives one conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1):
        super().__init__()
        check_odd_kernel(kernel_size, "ac", "the 1 x k and k x 1 branches must align with the k x k one")
        check_groups(groups, in_channels, out_channels)
        k, p = kernel_size, kernel_size // 2
        self.kernel_size = k
        self.square = _conv_bn(in_channels, out_channels, (k, k), stride, (p, p), groups)
        self.horizontal = _conv_bn(in_channels, out_channels, (1, k), stride, (0, p), groups)
        self.vertical = _conv_bn(in_channels, out_channels, (k, 1), stride, (p, 0), groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.square(x) + self.horizontal(x) + self.vertical(x)

    @torch.no_grad()
    def fuse(self) -> nn.Conv2d:
        """The equivalent single ``k x k`` conv with bias. Exact for this block in eval mode."""
        weight, bias = fold_batchnorm(self.square[0].weight, self.square[1])
        weight = weight.clone()
        centre = self.kernel_size // 2
        w_h, b_h = fold_batchnorm(self.horizontal[0].weight, self.horizontal[1])
        w_v, b_v = fold_batchnorm(self.vertical[0].weight, self.vertical[1])
        weight[:, :, centre : centre + 1, :] += w_h
        weight[:, :, :, centre : centre + 1] += w_v
        square = self.square[0]
        fused = nn.Conv2d(square.in_channels, square.out_channels, square.kernel_size, square.stride,
                          square.padding, groups=square.groups, bias=True,
                          device=square.weight.device, dtype=square.weight.dtype)
        fused.weight.copy_(weight)
        fused.bias.copy_(bias + b_h + b_v)
        return fused


def _ac_cost(shape: LayerShape, params: dict) -> FormulaCost:
    ho, wo = shape.conv_output()
    k, g = shape.kernel_size, params["groups"]
    per_tap = (shape.in_channels // g) * shape.out_channels
    if params["deploy"]:
        return FormulaCost(params=k * k * per_tap + shape.out_channels, macs=k * k * per_tap * ho * wo)
    taps = k * k + 2 * k
    return FormulaCost(params=taps * per_tap + 3 * 2 * shape.out_channels,
                       macs=taps * per_tap * ho * wo)


@register_variant(
    "ac",
    description="ACNet asymmetric conv block: k x k + 1 x k + k x 1 branches with BN; fuses to one conv",
    paper="Ding et al., ACNet, ICCV 2019",
    params=(Param("groups", 1, "channel groups of every branch", minimum=1),
            Param("deploy", False, "build the fused single k x k conv (with bias) instead of the block")),
    cost=_ac_cost,
)
def build_ac(in_channels, out_channels, kernel_size, stride, *, groups, deploy):
    block = AsymmetricConvBlock(in_channels, out_channels, kernel_size, stride, groups)
    return block.fuse() if deploy else block
