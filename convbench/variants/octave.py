"""Octave convolution: Chen et al., "Drop an Octave: Reducing Spatial Redundancy in Convolutional
Neural Networks with Octave Convolution", ICCV 2019 (official code facebookresearch/OctConv).

Channels are split into a high-frequency part at full resolution and a low-frequency part at half
resolution. ``alpha_in = 0`` is the first layer (one input, two outputs), ``alpha_out = 0`` the
last (two inputs, one output); both zero is a plain conv.

Stride 2 follows the official code: every conv runs at stride 1 and the down-sampling is an
average pool; high->high and low->low pool their input by 2, high->low pools by 4, and low->high
reads the low input as it is (already at the output's resolution), so it needs no up-sampling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from convbench.registry import FormulaCost, LayerShape, Param, register_variant
from convbench.variants._checks import check_odd_kernel


def split_channels(channels: int, alpha: float) -> tuple[int, int]:
    """(high, low) channel counts: low = int(alpha * channels), as the official code."""
    low = int(alpha * channels)
    return channels - low, low


def check_octave_size(height: int, width: int, stride: int) -> None:
    """Low-frequency maps are half size (a quarter after stride 2): H and W must divide evenly."""
    factor = 2 * stride
    for name, size in (("height", height), ("width", width)):
        if size % factor:
            raise ValueError(
                f"octave: {name}={size} must be divisible by {factor} (2 x stride={stride}) so the "
                f"low-frequency maps line up; nearest valid {name}: "
                f"{max(factor, size // factor * factor)} or {size // factor * factor + factor}"
            )


def _check_split(alpha: float, channels: int, name: str, side: str) -> None:
    if alpha > 0 and int(alpha * channels) == 0:
        raise ValueError(
            f"octave: {name}={alpha} gives 0 low-frequency channels of {side}={channels}; "
            f"use {name}=0 or at least {1 / channels:.3g}"
        )


class OctaveConv2d(nn.Module):
    """One Octave conv layer. ``forward(x_high, x_low=None)`` returns ``(y_high, y_low)``, or just
    ``y_high`` when ``alpha_out == 0``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 alpha_in: float = 0.5, alpha_out: float = 0.5, bias: bool = False):
        super().__init__()
        check_odd_kernel(kernel_size, "octave", "the four paths must keep their sizes aligned")
        if stride not in (1, 2):
            raise ValueError(f"octave: stride={stride} is not supported; valid stride: 1, 2")
        _check_split(alpha_in, in_channels, "alpha_in", "in_channels")
        _check_split(alpha_out, out_channels, "alpha_out", "out_channels")
        self.stride = stride
        in_h, in_l = split_channels(in_channels, alpha_in)
        out_h, out_l = split_channels(out_channels, alpha_out)
        self.in_high, self.in_low, self.out_high, self.out_low = in_h, in_l, out_h, out_l

        def path(cin: int, cout: int, with_bias: bool) -> nn.Conv2d | None:
            if cin == 0 or cout == 0:
                return None
            return nn.Conv2d(cin, cout, kernel_size, 1, (kernel_size - 1) // 2, bias=with_bias)

        # A bias, if asked for, sits on the path from the high input, which always exists.
        self.high_to_high = path(in_h, out_h, bias)
        self.high_to_low = path(in_h, out_l, bias)
        self.low_to_high = path(in_l, out_h, False)
        self.low_to_low = path(in_l, out_l, False)

    def forward(self, x_high: torch.Tensor, x_low: torch.Tensor | None = None):
        if (x_low is None) != (self.in_low == 0):
            raise ValueError(
                f"octave: this layer takes {'a (high, low) pair' if self.in_low else 'one tensor'} "
                f"(alpha_in {'> 0' if self.in_low else '= 0'})"
            )
        if self.out_low or self.in_low or self.stride == 2:
            # into one output at stride 2, the pooled high input meets the low one at half size
            check_octave_size(x_high.shape[-2], x_high.shape[-1], self.stride if self.out_low else 1)
        if self.stride == 2:
            x_high = F.avg_pool2d(x_high, 2)
        y_high = self.high_to_high(x_high)
        y_low = self.high_to_low(F.avg_pool2d(x_high, 2)) if self.high_to_low else None
        if x_low is not None:
            from_low = self.low_to_high(x_low)
            y_high = y_high + (F.interpolate(from_low, scale_factor=2.0, mode="nearest")
                               if self.stride == 1 else from_low)
            if self.low_to_low is not None:
                low_in = F.avg_pool2d(x_low, 2) if self.stride == 2 else x_low
                y_low = y_low + self.low_to_low(low_in)
        return y_high if y_low is None else (y_high, y_low)


def _octave_cost(shape: LayerShape, params: dict) -> FormulaCost:
    in_h, in_l = split_channels(shape.in_channels, params["alpha_in"])
    out_h, out_l = split_channels(shape.out_channels, params["alpha_out"])
    k2, s = shape.kernel_size**2, shape.stride
    full = (shape.height // s) * (shape.width // s)       # high output
    half = (shape.height // 2) * (shape.width // 2)       # low->high conv runs on the low input
    quarter = (shape.height // (2 * s)) * (shape.width // (2 * s))  # low output
    macs = k2 * (in_h * out_h * full + in_l * out_h * half + (in_h + in_l) * out_l * quarter)
    return FormulaCost(params=k2 * shape.in_channels * shape.out_channels
                       + (shape.out_channels if params["bias"] else 0), macs=macs)


def _check_alphas(*alphas: tuple[str, float]) -> None:
    for name, alpha in alphas:
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"octave: {name}={alpha} must be in [0, 1)")


def _octave_inputs(randn, batch, in_channels, height, width, *, stride, alpha_in, **_):
    _check_alphas(("alpha_in", alpha_in))
    check_octave_size(height, width, stride)
    high, low = split_channels(in_channels, alpha_in)
    if low == 0:
        return (randn(batch, high, height, width),)
    return randn(batch, high, height, width), randn(batch, low, height // 2, width // 2)


@register_variant(
    "octave",
    description="Octave conv: high/low-frequency channel split, low half at half resolution",
    paper="Chen et al., Drop an Octave, ICCV 2019",
    params=(Param("alpha_in", 0.5, "low-frequency share of the input channels (0: first layer)",
                  minimum=0.0, below=1.0),
            Param("alpha_out", 0.5, "low-frequency share of the output channels (0: last layer)",
                  minimum=0.0, below=1.0),
            Param("bias", False, "add a learnable bias to each output")),
    cost=_octave_cost,
    inputs=_octave_inputs,
    drop_in=False,
    notes="H and W must be divisible by 2 x stride; inputs are (high, low) when alpha_in > 0",
)
def build_octave(in_channels, out_channels, kernel_size, stride, *, alpha_in, alpha_out, bias):
    _check_alphas(("alpha_in", alpha_in), ("alpha_out", alpha_out))
    return OctaveConv2d(in_channels, out_channels, kernel_size, stride, alpha_in, alpha_out, bias)
