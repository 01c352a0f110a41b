"""MobileNetV3-Small: Howard et al., "Searching for MobileNetV3", ICCV 2019 (Table 2), with its
squeeze-and-excite (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018) and hard-swish.

Written here, no weights and no downloads: a reference network for counting and timing.
"""

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


# in, kernel, expanded, out, SE, activation, stride (the paper's Table 2)
SMALL_CONFIG = [
    (16, 3, 16, 16, True, "relu", 2),
    (16, 3, 72, 24, False, "relu", 2),
    (24, 3, 88, 24, False, "relu", 1),
    (24, 5, 96, 40, True, "hswish", 2),
    (40, 5, 240, 40, True, "hswish", 1),
    (40, 5, 240, 40, True, "hswish", 1),
    (40, 5, 120, 48, True, "hswish", 1),
    (48, 5, 144, 48, True, "hswish", 1),
    (48, 5, 288, 96, True, "hswish", 2),
    (96, 5, 576, 96, True, "hswish", 1),
    (96, 5, 576, 96, True, "hswish", 1),
]


class MobileNetV3(nn.Module):
    def __init__(self, config=SMALL_CONFIG, last_channels: int = 1024, num_classes: int = 1000):
        super().__init__()
        first = config[0][0]
        self.stem = nn.Sequential(nn.Conv2d(3, first, 3, 2, 1, bias=False), nn.BatchNorm2d(first),
                                  nn.Hardswish(inplace=True))
        self.blocks = nn.Sequential(*[InvertedResidual(c_in, exp, c_out, k, s, se, act)
                                      for c_in, k, exp, c_out, se, act, s in config])
        last_in = config[-1][3]
        head = 6 * last_in
        self.head = nn.Sequential(nn.Conv2d(last_in, head, 1, bias=False), nn.BatchNorm2d(head),
                                  nn.Hardswish(inplace=True), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Sequential(nn.Linear(head, last_channels), nn.Hardswish(inplace=True),
                                        nn.Dropout(0.2), nn.Linear(last_channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.head(self.blocks(self.stem(x))), 1))


def mobilenetv3_small(num_classes: int = 1000) -> MobileNetV3:
    return MobileNetV3(SMALL_CONFIG, 1024, num_classes)
