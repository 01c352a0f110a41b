"""Machine states read from synthetic probe levels, where the right answer is known: one state,
two states, a slow drift, noise that is not a state; and the ratio per state."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convbench.timing.states import STATE_GAP, depends_on_state, machine_states, ratio_by_state


def noisy(level: float, n: int, noise: float, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(level * np.exp(rng.normal(0, noise, n)))


@pytest.mark.parametrize("seed", range(20))
def test_one_state_with_noise_is_steady(seed):
    states = machine_states(noisy(0.05, 10, 0.02, seed))
    assert not states.changed and states.states == 1 and not states.drift


@pytest.mark.parametrize("seed", range(20))
def test_two_states_are_told_apart_and_labelled(seed):
    rng = np.random.default_rng(seed)
    truth = rng.permutation([0] * 6 + [1] * 4)
    levels = [(0.05 if s == 0 else 0.08) * math.exp(rng.normal(0, 0.02)) for s in truth]
    states = machine_states(levels)
    assert states.changed and states.states == 2
    assert list(states.labels) == list(truth)  # A is the lower probe level, the faster machine
    assert states.levels_ms[0] == pytest.approx(0.05, rel=0.05) and states.levels_ms[1] == pytest.approx(0.08, rel=0.05)


def test_a_step_smaller_than_the_gap_is_not_a_state():
    levels = [0.050] * 5 + [0.050 * 1.1] * 5  # 10 %: inside the 20 % a state needs
    assert not machine_states(levels).changed


def test_a_slow_drift_is_unstable_but_not_split():
    levels = list(np.geomspace(0.05, 0.075, 10))  # +50 % steadily, no two groups
    states = machine_states(levels, round_start_s=list(range(10)))
    assert states.drift and states.changed
    assert states.states == 1 and set(states.labels) == {0}
    assert "drifted" in states.describe()


def test_noise_without_a_trend_is_not_a_drift():
    levels = [0.05, 0.058, 0.051, 0.057, 0.05, 0.058, 0.052, 0.056, 0.05, 0.057]  # 16 % up and down
    assert not machine_states(levels).changed


def test_the_ratio_per_state_recovers_each_state_s_ratio():
    rng = np.random.default_rng(1)
    truth = [0, 0, 1, 0, 1, 1, 0, 0, 1, 0]
    levels = [0.05 if s == 0 else 0.09 for s in truth]
    baseline = [1.0 * math.exp(rng.normal(0, 0.01)) for _ in truth]
    variant = [b * (0.12 if s == 0 else 0.24) * math.exp(rng.normal(0, 0.01)) for b, s in zip(baseline, truth)]
    per_state = ratio_by_state(variant, baseline, machine_states(levels))
    assert [s.state for s in per_state] == ["A", "B"]
    assert per_state[0].ratio == pytest.approx(0.12, rel=0.02) and per_state[1].ratio == pytest.approx(0.24, rel=0.02)
    assert per_state[0].share == pytest.approx(0.6) and per_state[1].share == pytest.approx(0.4)
    assert per_state[0].estimate.high < per_state[1].estimate.low  # the two answers are really different
    blend = math.exp(np.mean(np.log(np.array(variant) / np.array(baseline))))
    assert per_state[0].ratio < blend < per_state[1].ratio


def test_a_state_of_one_round_has_its_round_s_ratio_and_no_interval():
    levels = [0.05] * 9 + [0.09]
    per_state = ratio_by_state([0.2] * 9 + [0.5], [1.0] * 10, machine_states(levels))
    assert per_state[1].estimate is None and per_state[1].ratio == pytest.approx(0.5)
    assert "no interval" in per_state[1].describe()


def test_one_state_gives_no_per_state_ratios():
    assert ratio_by_state([0.2] * 5, [1.0] * 5, machine_states([0.05] * 5)) == []


@pytest.mark.parametrize("bad", [[], [0.0, 0.1], [-1.0, 0.1]])
def test_levels_must_be_positive(bad):
    with pytest.raises(ValueError):
        machine_states(bad)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.01, 10.0), min_size=2, max_size=40),
       st.floats(1.0, 1.15))
def test_levels_within_the_gap_of_each_other_are_never_two_states(levels, spread):
    # squeeze any levels into a band narrower than the state gap: no split can reach it
    low, high = min(levels), max(levels)
    squeezed = [0.05 * spread ** ((v - low) / (high - low) if high > low else 0) for v in levels]
    assert math.log(max(squeezed) / min(squeezed)) < STATE_GAP
    assert machine_states(squeezed).states == 1


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 20), st.integers(1, 20), st.floats(1.3, 4.0), st.randoms(use_true_random=False))
def test_two_clean_levels_are_always_two_states(n_a, n_b, factor, rng):
    truth = [0] * n_a + [1] * n_b
    rng.shuffle(truth)
    states = machine_states([0.05 * (factor if s else 1.0) for s in truth])
    assert states.states == 2 and list(states.labels) == truth


def two_state_rounds(ratio_a: float, ratio_b: float, noise: float, seed: int, truth=(0, 0, 1, 0, 1, 1, 0, 0, 1, 0)):
    rng = np.random.default_rng(seed)
    baseline = [float(np.exp(rng.normal(0, 0.05))) for _ in truth]
    variant = [b * (ratio_a if s == 0 else ratio_b) * float(np.exp(rng.normal(0, noise))) for b, s in zip(baseline, truth)]
    return variant, baseline, machine_states([0.05 if s == 0 else 0.09 for s in truth])


@pytest.mark.parametrize("seed", range(10))
def test_a_ratio_that_doubles_in_the_other_state_depends_on_it(seed):
    assert depends_on_state(*two_state_rounds(0.12, 0.24, 0.03, seed))


@pytest.mark.parametrize("seed", range(10))
def test_a_ratio_the_same_in_both_states_does_not(seed):
    assert not depends_on_state(*two_state_rounds(0.12, 0.12, 0.01, seed))


def test_a_difference_within_the_margin_does_not_count():
    variant, baseline, states = two_state_rounds(0.12, 0.12 * 1.03, 0.0, 0)
    assert not depends_on_state(variant, baseline, states, margin=0.05)
    assert depends_on_state(variant, baseline, states, margin=0.01)


def test_a_state_of_one_round_cannot_show_a_dependence():
    truth = (0,) * 9 + (1,)
    assert not depends_on_state(*two_state_rounds(0.12, 0.5, 0.0, 0, truth))


def test_noisy_rounds_hide_a_small_difference():
    # the B rounds scatter by 30 %: a 10 % shift of their ratio is not told from noise
    assert not depends_on_state(*two_state_rounds(0.12, 0.132, 0.3, 3))


def test_one_state_never_depends():
    assert not depends_on_state([0.2, 0.3, 0.2], [1.0, 1.0, 1.0], machine_states([0.05] * 3))
