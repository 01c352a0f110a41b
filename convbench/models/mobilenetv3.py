"""MobileNetV3-Small: Howard et al., "Searching for MobileNetV3", ICCV 2019 (Table 2), with its
squeeze-and-excite (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018) and hard-swish.

Written here, no weights and no downloads: a reference network for counting and timing.
"""

from __future__ import annotations

import torch
from torch import nn

from convbench.variants.inverted_residual import InvertedResidual


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
