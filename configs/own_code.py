"""A network and a variant of your own, named by configs/own_code.yaml (run it with --trust-code)."""

import torch
from torch import nn

import convbench


def tiny_net(width: int = 16) -> nn.Module:
    """Two 3x3 convs and a classifier: what a swapped variant replaces is the convs."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1, bias=False), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10),
    )


class ShiftConv(nn.Module):
    """A 1x1 conv of the input shifted by one pixel: a toy "shift" operator (Wu et al., CVPR 2018)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(torch.roll(x, 1, dims=-1))


def _shift_cost(shape, params):
    height, width = shape.conv_output()
    return convbench.FormulaCost(params=shape.in_channels * shape.out_channels,
                                 macs=shape.in_channels * shape.out_channels * height * width)


@convbench.register_variant("shift", description="1x1 conv of the input shifted by one pixel",
                            paper="Wu et al., Shift: A Zero FLOP, Zero Parameter Alternative to Spatial "
                                  "Convolutions, CVPR 2018", cost=_shift_cost)
def build_shift(in_channels, out_channels, kernel_size, stride):
    return ShiftConv(in_channels, out_channels, stride)
