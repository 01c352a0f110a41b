"""The paired statistics on synthetic readings, where the right answer is known. Nothing here is
timed: each case builds per-round readings with a known ratio, drift or outlier."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convbench.timing.stats import geometric_mean, paired_ratio, verdict


def _rounds(n, centre, spread, seed):
    rng = random.Random(seed)
    return [centre * math.exp(rng.gauss(0, spread)) for _ in range(n)]


def test_a_constant_ratio_is_exact_with_a_zero_width_interval():
    baseline = [1.0, 1.3, 0.9, 2.0, 1.1, 1.2]
    result = paired_ratio([0.5 * b for b in baseline], baseline)
    assert result.ratio == pytest.approx(0.5)
    assert result.low == result.high == pytest.approx(0.5)
    assert result.verdict == "faster" and result.p_value == 0.0


def test_identical_readings_are_the_same_speed():
    baseline = [1.0, 1.3, 0.9, 2.0, 1.1, 1.2]
    result = paired_ratio(baseline, baseline)
    assert result.ratio == 1.0 and result.verdict == "same" and result.p_value == 1.0


def test_drift_that_falls_on_both_cancels_in_the_pairing():
    # The machine slows down 3x over the run; the variant always takes 0.6 of the baseline, +- 1 %.
    drift = [1 + 0.2 * i for i in range(10)]
    noise = _rounds(10, 1.0, 0.01, seed=1)
    baseline = [2.0 * d for d in drift]
    variant = [1.2 * d * e for d, e in zip(drift, noise)]
    result = paired_ratio(variant, baseline)
    assert result.ratio == pytest.approx(0.6, rel=0.02)
    assert result.low <= 0.6 <= result.high and result.high / result.low < 1.05
    assert result.verdict == "faster"
    # Unpaired, the drift would swamp the difference: the medians' spread covers both.
    assert max(variant) > min(baseline)


def test_an_outlier_round_widens_the_interval_but_leaves_the_verdict_right():
    baseline = _rounds(12, 1.0, 0.02, seed=2)
    variant = [0.5 * b * e for b, e in zip(baseline, _rounds(12, 1.0, 0.02, seed=3))]
    variant[5] = 3.0 * baseline[5]  # one round where the variant was disturbed
    result = paired_ratio(variant, baseline)
    assert result.low <= result.ratio <= result.high
    assert result.verdict == "faster" and result.high < 1


def test_the_ratio_is_the_ratio_of_the_geometric_mean_latencies():
    baseline = _rounds(8, 1.0, 0.2, seed=4)
    variant = _rounds(8, 0.7, 0.2, seed=5)
    result = paired_ratio(variant, baseline)
    assert result.ratio == pytest.approx(geometric_mean(variant) / geometric_mean(baseline), rel=1e-12)


def test_a_small_consistent_difference_is_the_same_speed_within_the_margin():
    baseline = _rounds(10, 1.0, 0.005, seed=6)
    result = paired_ratio([1.02 * b for b in baseline], baseline, margin=0.05)
    assert result.verdict == "same"
    assert 1 / 1.05 <= result.low <= result.high <= 1.05


def test_the_interval_covers_the_true_ratio_at_its_confidence_level():
    # 2,000 synthetic comparisons with log-normal round noise and a true ratio of 0.8: a 95 %
    # interval must contain 0.8 about 95 % of the time (binomial sd 0.5 %), and equal speeds must
    # be called faster or slower about 5 % of the time.
    covered = wrong = 0
    trials = 2000
    for seed in range(trials):
        baseline = _rounds(6, 1.0, 0.2, seed=2 * seed)
        noise = _rounds(6, 1.0, 0.2, seed=2 * seed + 1)
        result = paired_ratio([0.8 * b * e for b, e in zip(baseline, noise)], baseline)
        covered += result.low <= 0.8 <= result.high
        wrong += paired_ratio([b * e for b, e in zip(baseline, noise)], baseline).verdict in ("faster", "slower")
    assert 0.935 <= covered / trials <= 0.965
    assert wrong / trials <= 0.065


def test_a_noisy_comparison_of_equal_speeds_is_undecided():
    baseline = _rounds(6, 1.0, 0.3, seed=7)
    variant = _rounds(6, 1.0, 0.3, seed=107)
    result = paired_ratio(variant, baseline)
    assert result.verdict == "undecided" and result.low < 1 < result.high


def test_processes_are_the_replicates_when_rounds_came_from_several():
    # Within each process the ratio is steady; between processes it moves by 20 %.
    per_process = [0.5, 0.6, 0.55, 0.45, 0.5]
    variant, baseline, groups = [], [], []
    for p, level in enumerate(per_process):
        for _ in range(4):
            baseline.append(1.0)
            variant.append(level)
            groups.append(p)
    pooled = paired_ratio(variant, baseline)
    by_process = paired_ratio(variant, baseline, groups=groups)
    assert by_process.ratio == pytest.approx(pooled.ratio)
    assert by_process.replicates == 5 and pooled.replicates == 20
    assert by_process.high / by_process.low > pooled.high / pooled.low  # the wider, honest interval


@pytest.mark.parametrize("ratio,low,high,expected", [
    (0.5, 0.4, 0.6, "faster"),
    (2.0, 1.8, 2.2, "slower"),
    (1.01, 0.97, 1.04, "same"),
    (0.97, 0.94, 0.99, "undecided"),  # surely faster, but maybe by less than the margin
    (0.8, 0.5, 1.2, "undecided"),
    (1.0, 1.0, 1.0, "same"),
])
def test_verdict_rule(ratio, low, high, expected):
    assert verdict(ratio, low, high, margin=0.05) == expected


@pytest.mark.parametrize("variant,baseline,message", [
    ([1.0], [1.0], "at least 2"),
    ([1.0, 2.0], [1.0], "rounds"),
    ([1.0, -2.0], [1.0, 1.0], "positive"),
    ([1.0, math.nan], [1.0, 1.0], "finite"),
])
def test_bad_readings_raise(variant, baseline, message):
    with pytest.raises(ValueError, match=message):
        paired_ratio(variant, baseline)


times = st.floats(min_value=1e-4, max_value=1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(times, times), min_size=2, max_size=40),
       st.floats(min_value=0.5, max_value=0.999), st.floats(min_value=0.0, max_value=0.5))
def test_the_interval_is_students_on_the_log_ratios_and_the_verdict_follows_it(pairs, confidence, margin):
    """Checked against scipy's own t interval and t-test, computed here from the log ratios."""
    from scipy import stats

    variant, baseline = zip(*pairs)
    result = paired_ratio(variant, baseline, confidence=confidence, margin=margin)
    logs = [math.log(v) - math.log(b) for v, b in zip(variant, baseline)]
    mean, sem = sum(logs) / len(logs), stats.sem(logs)
    assert result.ratio == pytest.approx(geometric_mean(variant) / geometric_mean(baseline), rel=1e-9)
    if sem > 1e-9 * max(1.0, abs(mean)) and math.isfinite(sem):
        low, high = stats.t.interval(confidence, len(logs) - 1, loc=mean, scale=sem)
        if high < 700:  # exp() of more overflows
            assert (result.low, result.high) == (pytest.approx(math.exp(low), rel=1e-6),
                                                 pytest.approx(math.exp(high), rel=1e-6))
            assert result.p_value == pytest.approx(stats.ttest_1samp(logs, 0.0).pvalue, rel=1e-6, abs=1e-12)
            lower, upper = 1 / (1 + margin), 1 + margin
            expected = ("faster" if math.exp(high) < 1 and result.ratio < lower
                        else "slower" if math.exp(low) > 1 and result.ratio > upper
                        else "same" if lower <= math.exp(low) and math.exp(high) <= upper else "undecided")
            assert result.verdict == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(times, times), min_size=2, max_size=30))
def test_swapping_variant_and_baseline_inverts_the_ratio_and_interval(pairs):
    variant, baseline = zip(*pairs)
    forward, backward = paired_ratio(variant, baseline), paired_ratio(baseline, variant)
    assert forward.ratio * backward.ratio == pytest.approx(1.0, rel=1e-9)
    assert forward.low * backward.high == pytest.approx(1.0, rel=1e-9)
    swapped = {"faster": "slower", "slower": "faster", "same": "same", "undecided": "undecided"}
    assert backward.verdict == swapped[forward.verdict]
