"""MobileNet's inverted residual block (Sandler et al., "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", CVPR 2018) as MobileNetV3 uses it (Howard et al., "Searching for MobileNetV3", ICCV
2019), with squeeze-and-excite (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018); its
depthwise part is a factory, so variants can build the block around their own spatial conv."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of ``divisor``, never below 90 % of ``value`` (MobileNet's rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class SqueezeExcite(nn.Module):
    """Global average pool, 1 x 1 reduce + ReLU, 1 x 1 expand + hard-sigmoid, rescale the input."""

    def __init__(self, channels: int, squeeze_channels: int | None = None):
        super().__init__()
        squeeze = squeeze_channels or make_divisible(channels // 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.relu = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(squeeze, channels, 1)
        self.gate = nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.relu(self.reduce(self.pool(x)))))


def _activation(name: str) -> nn.Module:
    return nn.Hardswish(inplace=True) if name == "hswish" else nn.ReLU(inplace=True)


DepthwiseFactory = Callable[[int, int, int], nn.Module]


def depthwise_conv(channels: int, kernel_size: int, stride: int) -> nn.Module:
    return nn.Conv2d(channels, channels, kernel_size, stride, kernel_size // 2, groups=channels, bias=False)


class InvertedResidual(nn.Module):
    """1 x 1 expand (skipped when it would not expand), k x k depthwise, optional SE, 1 x 1 project;
    a residual add when the shape is kept. ``depthwise`` builds the spatial part."""

    def __init__(self, in_channels: int, expanded: int, out_channels: int, kernel_size: int, stride: int,
                 se: bool, activation: str, depthwise: DepthwiseFactory = depthwise_conv):
        super().__init__()
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers += [nn.Conv2d(in_channels, expanded, 1, bias=False), nn.BatchNorm2d(expanded),
                       _activation(activation)]
        layers += [depthwise(expanded, kernel_size, stride), nn.BatchNorm2d(expanded), _activation(activation)]
        if se:
            layers.append(SqueezeExcite(expanded))
        layers += [nn.Conv2d(expanded, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + x if self.residual else out
