"""XSepConv's 2 x 2 padding: half-pixel shifts per direction, and a plan over N layers that cancels."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from convbench.variants.xsep import pad_2x2_input, plan_symmetric_padding, symmetric_groups

SIZE = 21
HALF_PIXEL_SHIFT = {"tl": (0.5, 0.5), "br": (-0.5, -0.5), "tr": (0.5, -0.5), "bl": (-0.5, 0.5)}


def delta_response_centroid(directions: list[str], channels: int = 4) -> tuple[float, float]:
    """Centre of mass, relative to the input delta, after all-ones 2 x 2 layers padded as given."""
    x = torch.zeros(1, channels, SIZE, SIZE, dtype=torch.float64)
    x[:, :, SIZE // 2, SIZE // 2] = 1.0
    ones = torch.ones(channels, 1, 2, 2, dtype=torch.float64)
    for direction in directions:
        x = F.conv2d(pad_2x2_input(x, direction), ones, groups=channels)
    assert x.shape[-2:] == (SIZE, SIZE)
    mass = x.sum(dim=(0, 1))
    rows = torch.arange(SIZE, dtype=torch.float64)
    row = (mass.sum(1) * rows).sum() / mass.sum()
    col = (mass.sum(0) * rows).sum() / mass.sum()
    return (row - SIZE // 2).item(), (col - SIZE // 2).item()


@pytest.mark.parametrize("direction", ["tl", "tr", "bl", "br"])
def test_each_direction_shifts_half_a_pixel(direction):
    assert delta_response_centroid([direction]) == pytest.approx(HALF_PIXEL_SHIFT[direction])


def test_shifts_add_up_when_the_direction_repeats():
    assert delta_response_centroid(["tl"] * 4) == pytest.approx((2.0, 2.0))


def test_symmetric_padding_has_no_net_shift_on_a_multiple_of_four_channels():
    assert delta_response_centroid(["symmetric"], channels=8) == pytest.approx((0.0, 0.0))


@pytest.mark.parametrize("n", range(0, 10))
def test_the_plan_cancels_the_shift_for_any_depth(n):
    plan = plan_symmetric_padding(n)
    assert len(plan) == n
    assert delta_response_centroid(plan) == pytest.approx((0.0, 0.0), abs=1e-12)


def test_the_plan_follows_the_rules():
    assert plan_symmetric_padding(4) == ["tl", "br", "tr", "bl"]
    assert plan_symmetric_padding(6)[-2:] == ["tl", "br"]  # N % 4 == 2: the last two are opposite
    assert plan_symmetric_padding(5)[-1] == "symmetric"    # N % 4 == 1: the last is symmetric
    assert set(plan_symmetric_padding(8)) == {"tl", "br", "tr", "bl"}
    with pytest.raises(ValueError, match="num_layers"):
        plan_symmetric_padding(-1)


@pytest.mark.parametrize("channels,groups", [(8, [2, 2, 2, 2]), (7, [2, 2, 2, 1]), (5, [2, 1, 1, 1]),
                                             (2, [1, 1, 0, 0])])
def test_symmetric_groups_give_the_remainder_to_the_first_groups(channels, groups):
    assert symmetric_groups(channels) == groups


def test_symmetric_padding_puts_zeros_where_each_group_wants_them():
    x = torch.ones(1, 4, 3, 3)
    padded = pad_2x2_input(x, "symmetric")
    assert padded.shape == (1, 4, 4, 4)
    # groups in order: bottom-right, top-left, bottom-left, top-right
    assert padded[0, 0, -1].sum() == 0 and padded[0, 0, :, -1].sum() == 0
    assert padded[0, 1, 0].sum() == 0 and padded[0, 1, :, 0].sum() == 0
    assert padded[0, 2, -1].sum() == 0 and padded[0, 2, :, 0].sum() == 0
    assert padded[0, 3, 0].sum() == 0 and padded[0, 3, :, -1].sum() == 0
    assert padded.sum() == 4 * 9
