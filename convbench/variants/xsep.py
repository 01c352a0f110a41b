"""XSepConv: Chen et al., "XSepConv: Extremely Separated Convolution", arXiv 2002.12046.

A k x k depthwise conv replaced by a 2 x 2 depthwise conv (one-sided zero padding keeps H x W),
a 1 x k and a k x 1 depthwise conv (the stride split between them), then a 1 x 1 conv.

Padding directions of the 2 x 2 conv: ``tl``, ``tr``, ``bl``, ``br`` pad one pixel of zeros on those
two sides; ``symmetric`` splits the channels into four groups padded bottom-right, top-left,
bottom-left, top-right (Wu et al., "Convolution with even-sized kernels and symmetric padding",
NeurIPS 2019), the first ``C mod 4`` groups one channel larger.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from convbench.registry import FormulaCost, LayerShape, Param, register_variant
from convbench.variants._checks import check_odd_kernel

# F.pad order: (left, right, top, bottom).
PAD_SIDES = {"tl": (1, 0, 1, 0), "tr": (0, 1, 1, 0), "bl": (1, 0, 0, 1), "br": (0, 1, 0, 1)}
SYMMETRIC_ORDER = ("br", "tl", "bl", "tr")
DIRECTIONS = (*PAD_SIDES, "symmetric")


def symmetric_groups(channels: int) -> list[int]:
    """Channel counts of the four symmetric-padding groups; the first ``C mod 4`` get one more."""
    base, extra = divmod(channels, 4)
    return [base + (1 if i < extra else 0) for i in range(4)]


def plan_symmetric_padding(num_layers: int) -> list[str]:
    """Padding directions for a stack of ``num_layers`` 2 x 2 convs whose half-pixel shifts cancel.

    Layers cycle through ``tl, br, tr, bl`` (each followed by its opposite, so every pair cancels);
    when ``num_layers % 4 == 2`` the last two are the opposite pair ``tl, br``; when a single layer
    is left over (``% 4`` of 1 or 3) it uses ``symmetric``, which has no net shift.
    """
    if num_layers < 0:
        raise ValueError(f"num_layers={num_layers} must be >= 0")
    cycle = ("tl", "br", "tr", "bl")
    plan = [cycle[i % 4] for i in range(num_layers - num_layers % 4)]
    rest = num_layers % 4
    if rest >= 2:
        plan += ["tl", "br"]
    if rest % 2:
        plan.append("symmetric")
    return plan


def pad_2x2_input(x: torch.Tensor, direction: str) -> torch.Tensor:
    """Zero-pad ``x`` by one pixel on two sides so that a 2 x 2 VALID conv keeps H x W."""
    if direction != "symmetric":
        return F.pad(x, PAD_SIDES[direction])
    padded = F.pad(x, (1, 1, 1, 1))
    h, w = x.shape[-2:]
    pieces, start = [], 0
    for group_direction, size in zip(SYMMETRIC_ORDER, symmetric_groups(x.shape[1])):
        # The group's (H+1) x (W+1) window of the all-sides padding that has zeros where it wants them.
        left, _, top, _ = PAD_SIDES[group_direction]
        rows = slice(1 - top, 1 - top + h + 1)
        cols = slice(1 - left, 1 - left + w + 1)
        pieces.append(padded[:, start : start + size, rows, cols])
        start += size
    return torch.cat(pieces, dim=1)


class XSepConv2d(nn.Module):
    """2 x 2 DW (padded) -> 1 x k DW (stride (1, s)) -> k x 1 DW (stride (s, 1)) -> 1 x 1 (unless
    ``pointwise=False``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: str = "symmetric", norm_act: bool = False, bias: bool = False,
                 pointwise: bool = True):
        super().__init__()
        check_odd_kernel(kernel_size, "xsep", "the 1 x k and k x 1 convs pad k // 2 to keep the size")
        if padding not in DIRECTIONS:
            raise ValueError(f"xsep: padding={padding!r} must be one of {', '.join(DIRECTIONS)}")
        if not pointwise and out_channels != in_channels:
            raise ValueError(f"xsep: pointwise=false (depthwise only) needs out_channels=in_channels="
                             f"{in_channels}, got out_channels={out_channels}")
        c, k, p = in_channels, kernel_size, kernel_size // 2
        self.padding = padding
        self.dw_2x2 = nn.Conv2d(c, c, 2, groups=c, bias=False)
        self.dw_1xk = nn.Conv2d(c, c, (1, k), (1, stride), (0, p), groups=c, bias=False)
        self.dw_kx1 = nn.Conv2d(c, c, (k, 1), (stride, 1), (p, 0), groups=c, bias=bias and not pointwise)
        self.norm_act = (nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
                         if norm_act else nn.Identity())
        self.pointwise = nn.Conv2d(c, out_channels, 1, bias=bias) if pointwise else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dw_2x2(pad_2x2_input(x, self.padding))
        x = self.dw_kx1(self.dw_1xk(x))
        return self.pointwise(self.norm_act(x))

    def extra_repr(self) -> str:
        return f"padding={self.padding!r}"


def _xsep_cost(shape: LayerShape, params: dict) -> FormulaCost:
    c, k = shape.in_channels, shape.kernel_size
    h, w = shape.height, shape.width
    ho, wo = shape.conv_output()
    pointwise = c * shape.out_channels if params["pointwise"] else 0
    extra = (2 * c if params["norm_act"] else 0) + (shape.out_channels if params["bias"] else 0)
    macs = c * (4 * h * w + k * h * wo + k * ho * wo) + pointwise * ho * wo
    return FormulaCost(params=c * (4 + 2 * k) + pointwise + extra, macs=macs)


@register_variant(
    "xsep",
    description="XSepConv: 2 x 2 DW + 1 x k DW + k x 1 DW + 1 x 1 (cheaper than k x k DW for k >= 5)",
    paper="Chen et al., XSepConv: Extremely Separated Convolution, arXiv 2002.12046",
    params=(Param("padding", "symmetric", "2 x 2 padding direction", choices=DIRECTIONS,
                  open_choice=True),
            Param("norm_act", False, "BN + ReLU before the 1 x 1", open_choice=True),
            Param("bias", False, "add a learnable bias to the last conv"),
            Param("pointwise", True, "end with the 1 x 1 conv; false: depthwise only, to replace a "
                                     "k x k depthwise conv as the paper does (out_channels = in_channels)")),
    cost=_xsep_cost,
)
def build_xsep(in_channels, out_channels, kernel_size, stride, *, padding, norm_act, bias, pointwise):
    return XSepConv2d(in_channels, out_channels, kernel_size, stride, padding, norm_act, bias, pointwise)
