"""Octave ResNet-50: ResNet-50 with its convs made Octave convs (Chen et al., "Drop an Octave",
ICCV 2019, Table 2), wired "first / middle / last" (the layout of facebookresearch/OctConv as public
reimplementations describe it; it reproduces Table 2's MACs within 1.4 % at every alpha):

- the stem stays a plain conv; the first bottleneck's convs take one input and give a (high, low)
  pair (``alpha_in = 0``, "first");
- every conv of stages 1-3 after that is ``alpha -> alpha`` ("middle"), with batch norm and ReLU on
  each frequency and the residual added per frequency;
- the first bottleneck of stage 4 merges the pair back (``alpha -> 0``, "last") in its first 1 x 1
  conv and its shortcut; the rest of stage 4 is the plain ResNet-50 bottleneck.

No weights, no downloads: a reference network for counting and timing Octave against ResNet-50.
"""

from __future__ import annotations

import torch
from torch import nn

from convbench.models.resnet import Bottleneck, _conv_bn
from convbench.variants.octave import OctaveConv2d, split_channels


class OctConvBN(nn.Module):
    """An Octave conv, then batch norm (and ReLU) on each frequency it outputs."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 alpha_in: float, alpha_out: float, relu: bool = True):
        super().__init__()
        self.conv = OctaveConv2d(in_channels, out_channels, kernel_size, stride, alpha_in, alpha_out)
        high, low = split_channels(out_channels, alpha_out)
        self.bn_high = nn.BatchNorm2d(high)
        self.bn_low = nn.BatchNorm2d(low) if low else None
        self.relu = nn.ReLU(inplace=True) if relu else nn.Identity()

    def forward(self, x):
        y = self.conv(*x) if isinstance(x, tuple) else self.conv(x)
        if self.bn_low is None:
            return self.relu(self.bn_high(y))
        return self.relu(self.bn_high(y[0])), self.relu(self.bn_low(y[1]))


class OctBottleneck(nn.Module):
    """ResNet-50's bottleneck (1 x 1, strided 3 x 3, 1 x 1 expand by 4, shortcut) of Octave convs.
    ``alpha_out = 0`` makes it the "last" block: the first 1 x 1 and the shortcut merge the
    frequencies, and the rest is plain."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int, alpha_in: float, alpha_out: float):
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = OctConvBN(in_channels, width, 1, 1, alpha_in, alpha_out)
        self.conv2 = OctConvBN(width, width, 3, stride, alpha_out, alpha_out)
        self.conv3 = OctConvBN(width, out_channels, 1, 1, alpha_out, alpha_out, relu=False)
        self.shortcut = (OctConvBN(in_channels, out_channels, 1, stride, alpha_in, alpha_out, relu=False)
                         if stride != 1 or in_channels != out_channels or alpha_in != alpha_out else None)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.conv3(self.conv2(self.conv1(x)))
        skip = self.shortcut(x) if self.shortcut is not None else x
        if isinstance(y, tuple):
            return self.relu(y[0] + skip[0]), self.relu(y[1] + skip[1])
        return self.relu(y + skip)


class OctResNet50(nn.Module):
    def __init__(self, alpha: float = 0.5, num_classes: int = 1000):
        super().__init__()
        if not 0 < alpha < 1:
            raise ValueError(f"oct_resnet50: alpha={alpha} must be in (0, 1)")
        self.alpha = alpha
        self.stem = nn.Sequential(*_conv_bn(3, 64, 7, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        blocks, channels = [], 64
        for stage, (count, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512))):
            for j in range(count):
                stride = 2 if (j == 0 and stage > 0) else 1
                if stage < 3:
                    alpha_in = 0.0 if (stage == 0 and j == 0) else alpha
                    blocks.append(OctBottleneck(channels, width, stride, alpha_in, alpha))
                elif j == 0:
                    blocks.append(OctBottleneck(channels, width, stride, alpha, 0.0))
                else:
                    blocks.append(Bottleneck(channels, width, stride))
                channels = width * 4
        self.stages = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))


def oct_resnet50(alpha: float = 0.5, num_classes: int = 1000) -> OctResNet50:
    return OctResNet50(alpha, num_classes)
