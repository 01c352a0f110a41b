"""The grid of cases every variant is tried on, and the drop-in output-shape contract."""

from __future__ import annotations

import itertools

from convbench.variants.octave import split_channels

CHANNELS = [(8, 16), (12, 12), (16, 8)]
SIZES = [(7, 9), (8, 12), (10, 10)]
STRIDES = [1, 2]
KERNELS = [3, 5]
BATCH = 2

CASES = list(itertools.product(CHANNELS, SIZES, STRIDES, KERNELS))


def case_id(case) -> str:
    (cin, cout), (h, w), s, k = case
    return f"{cin}to{cout}-{h}x{w}-s{s}-k{k}"


def expected_output(name: str, cin: int, cout: int, k: int, s: int, h: int, w: int, params: dict):
    """The output shape(s) the drop-in contract promises, or None where a ValueError is due."""
    ho, wo = (h - 1) // s + 1, (w - 1) // s + 1  # odd k with "same" padding
    if name in ("depthwise", "depthwise_shared") and cout % cin:
        return None
    if name == "xsep" and not params.get("pointwise", True) and cin != cout:
        return None
    if name == "group" and (cin % params.get("groups", 4) or cout % params.get("groups", 4)):
        return None
    if name == "transposed":
        return [(BATCH, cout, s * h, s * w)]  # the stride is the up-sampling factor
    if name == "octave":
        if h % (2 * s) or w % (2 * s):
            return None
        out_h, out_l = split_channels(cout, params.get("alpha_out", 0.5))
        shapes = [(BATCH, out_h, h // s, w // s)]
        if out_l:
            shapes.append((BATCH, out_l, h // (2 * s), w // (2 * s)))
        return shapes
    return [(BATCH, cout, ho, wo)]
