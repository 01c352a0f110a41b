"""Depthwise-STFT separable convolution: Kumawat & Raman, "Depthwise-STFT based separable
Convolutional Neural Networks", ICASSP 2020 (arXiv 2001.09912).

For each input channel separately, the STFT over the centred n x n neighbourhood (n = kernel_size,
odd) at four fixed low frequencies v in {(a, 0), (0, a), (a, a), (a, -a)}, a = 1/n, keeping real and
imaginary parts: 8 maps per channel. Then a nonlinearity and a learnable 1 x 1 conv 8*C_in -> C_out.

The tap at offset y = (row, column) from the centre carries exp(-j 2 pi v . y), applied as
PyTorch's conv2d does (cross-correlation). Output channel ``8c + 2i`` is the real part and
``8c + 2i + 1`` the imaginary part of frequency ``v_{i+1}`` on input channel ``c``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from convbench.registry import FormulaCost, LayerShape, Param, register_variant
from convbench.variants._checks import check_odd_kernel

MAPS_PER_CHANNEL = 8
ACTIVATIONS = ("abs", "relu", "none")


def stft_bases(kernel_size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The 8 fixed ``kernel_size x kernel_size`` bases, shape ``(8, 1, k, k)``, ordered
    re v1, im v1, re v2, im v2, re v3, im v3, re v4, im v4."""
    a = 1.0 / kernel_size
    offsets = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    rows, cols = torch.meshgrid(offsets, offsets, indexing="ij")
    bases = []
    for v_row, v_col in ((a, 0.0), (0.0, a), (a, a), (a, -a)):
        phase = 2 * math.pi * (v_row * rows + v_col * cols)
        bases += [torch.cos(phase), -torch.sin(phase)]
    return torch.stack(bases).unsqueeze(1).to(dtype)


class _DepthwiseSTFTBase(nn.Module):
    """Parameters and 1 x 1 shared by both implementations, so their state_dicts are the same."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 activation: str = "abs", bias: bool = False):
        super().__init__()
        check_odd_kernel(kernel_size, "stft", "the STFT window is centred on each pixel")
        if activation not in ACTIVATIONS:
            raise ValueError(f"stft: activation={activation!r} must be one of {', '.join(ACTIVATIONS)}")
        self.in_channels = in_channels
        self.stride = stride
        self.padding = (kernel_size - 1) // 2
        self.activation = activation
        self.register_buffer("basis", stft_bases(kernel_size))
        self.pointwise = nn.Conv2d(MAPS_PER_CHANNEL * in_channels, out_channels, 1, bias=bias)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """The 8 STFT maps of every input channel: ``N x 8*C_in x Ho x Wo``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.transform(x)
        # The maps are a fresh tensor: outside autograd, apply the activation in place.
        in_place = not maps.requires_grad
        if self.activation == "abs":
            maps = maps.abs_() if in_place else maps.abs()
        elif self.activation == "relu":
            maps = F.relu(maps, inplace=in_place)
        return self.pointwise(maps)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, stride={self.stride}, activation={self.activation}"


class DepthwiseSTFTConv2d(_DepthwiseSTFTBase):
    """All 8 bases of all channels in one depthwise conv (channel multiplier 8), run in
    channels_last, where PyTorch's CPU depthwise kernels are fastest. The per-channel copy of the
    bases is made once, not on every call."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_buffer("depthwise_weight", self._tile_basis(), persistent=False)
        self.register_load_state_dict_post_hook(_retile_after_load)

    def _tile_basis(self) -> torch.Tensor:
        return self.basis.repeat(self.in_channels, 1, 1, 1)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        return F.conv2d(x, self.depthwise_weight, None, self.stride, self.padding,
                        groups=self.in_channels)


def _retile_after_load(module: DepthwiseSTFTConv2d, incompatible_keys) -> None:
    with torch.no_grad():
        module.depthwise_weight.copy_(module._tile_basis())


class DepthwiseSTFTReference(_DepthwiseSTFTBase):
    """The plain implementation: one grouped conv per basis, then interleave. Slower, obviously
    right, and the check on :class:`DepthwiseSTFTConv2d`."""

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        c = self.in_channels
        per_basis = [
            F.conv2d(x, basis.expand(c, 1, *basis.shape[-2:]), None, self.stride, self.padding,
                     groups=c)
            for basis in self.basis.split(1)
        ]
        return torch.stack(per_basis, dim=2).flatten(1, 2)


def _stft_cost(shape: LayerShape, params: dict) -> FormulaCost:
    ho, wo = shape.conv_output()
    maps = MAPS_PER_CHANNEL * shape.in_channels
    k2 = shape.kernel_size**2
    return FormulaCost(
        params=maps * shape.out_channels + (shape.out_channels if params["bias"] else 0),
        fixed_weights=MAPS_PER_CHANNEL * k2,
        macs=ho * wo * (maps * k2 + maps * shape.out_channels),
        macs_fixed=ho * wo * maps * k2,
    )


STFT_PARAMS = (
    Param("activation", "abs", "nonlinearity between the STFT and the 1 x 1",
          choices=ACTIVATIONS, open_choice=True),
    Param("bias", False, "add a learnable bias to the 1 x 1 conv"),
)
STFT_PAPER = "Kumawat & Raman, Depthwise-STFT based separable CNNs, ICASSP 2020"


@register_variant(
    "stft",
    description="Depthwise-STFT separable conv: fixed channelwise STFT (8 maps) then 1 x 1",
    paper=STFT_PAPER,
    params=STFT_PARAMS,
    cost=_stft_cost,
)
def build_stft(in_channels, out_channels, kernel_size, stride, *, activation, bias):
    return DepthwiseSTFTConv2d(in_channels, out_channels, kernel_size, stride, activation, bias)


@register_variant(
    "stft_reference",
    description="Depthwise-STFT, reference implementation (one grouped conv per basis)",
    paper=STFT_PAPER,
    params=STFT_PARAMS,
    cost=_stft_cost,
)
def build_stft_reference(in_channels, out_channels, kernel_size, stride, *, activation, bias):
    return DepthwiseSTFTReference(in_channels, out_channels, kernel_size, stride, activation, bias)
