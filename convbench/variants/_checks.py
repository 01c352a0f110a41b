"""Validation shared by the variant builders: every failure is a ValueError naming the parameter
and what would be valid."""

from __future__ import annotations

import math


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def check_groups(groups: int, in_channels: int, out_channels: int) -> None:
    if in_channels % groups or out_channels % groups:
        valid = divisors(math.gcd(in_channels, out_channels))
        raise ValueError(
            f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}; "
            f"valid groups: {', '.join(map(str, valid))}"
        )


def check_multiplier(in_channels: int, out_channels: int, variant: str) -> int:
    """The channel multiplier ``out_channels / in_channels`` of a depthwise conv."""
    if out_channels % in_channels:
        lower = out_channels // in_channels * in_channels
        upper = lower + in_channels
        options = ", ".join(str(c) for c in (lower, upper) if c > 0)
        raise ValueError(
            f"{variant}: out_channels={out_channels} must be a multiple of in_channels={in_channels} "
            f"(the channel multiplier); nearest valid out_channels: {options}"
        )
    return out_channels // in_channels


def check_odd_kernel(kernel_size: int, variant: str, why: str) -> None:
    if kernel_size % 2 == 0:
        raise ValueError(
            f"{variant}: kernel_size={kernel_size} must be odd ({why}); "
            f"try kernel_size={kernel_size - 1} or {kernel_size + 1}"
        )
