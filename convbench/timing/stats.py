"""Statistics of a paired comparison: the latency ratio of a variant to its baseline, its confidence
interval, a paired test, and a verdict.

A comparison is measured in rounds; in each round the variant and the baseline are both read (in
an order that alternates), so each round gives one paired ratio ``v_i / b_i`` in which drift of the
machine falls on both alike. The estimate is the **geometric mean of the per-round ratios**, i.e.
``exp(mean(log v_i - log b_i))``. We take the geometric mean (and not the median) because

- it equals the ratio of the two geometric-mean latencies over the same rounds, so a table's
  latency column divided by the baseline's equals its ratio column exactly;
- it treats 0.5x and 2x symmetrically (log scale), the natural scale for speed-ups;
- each per-round value is already the median of that round's readings, so a single disturbed
  reading is removed before the rounds are averaged; a disturbed *round* widens the interval.

The interval is Student's t on the mean log ratio, symmetric in log space around the estimate, so
it always contains it; the paired test is the matching one-sample t-test of ``log v_i - log b_i``
against 0 (pyperf's ``compare_to`` also uses a t-test). When the rounds come from several fresh
processes, the unit of replication is the process: the interval is taken over the per-process
means, so between-process variation enters it (as pyperf's worker processes do).

The verdict follows nvbench's ``compare-robust`` (FAST / SLOW / SAME / AMBG) with an equivalence
margin ``m``: inside ``[1/(1+m), 1+m]`` counts as the same speed.

- ``faster``: the whole interval is below 1 and the estimate is below ``1/(1+m)``;
- ``slower``: the whole interval is above 1 and the estimate is above ``1+m``;
- ``same``: the whole interval lies inside ``[1/(1+m), 1+m]`` (equivalence shown, as in TOST);
- ``undecided``: anything else; the interval is too wide to tell.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

__all__ = ["VERDICTS", "RatioEstimate", "geometric_mean", "mean_difference", "paired_ratio", "verdict"]

VERDICTS = ("faster", "slower", "same", "undecided")
CONFIDENCE = 0.95
MARGIN = 0.05


@dataclass(frozen=True)
class RatioEstimate:
    """variant / baseline latency (< 1: the variant is faster), with its interval and verdict."""

    ratio: float
    low: float
    high: float
    p_value: float
    verdict: str
    rounds: int
    replicates: int  # independent units the interval was taken over: rounds, or worker processes
    confidence: float
    margin: float

    @property
    def significant(self) -> bool:
        """The interval excludes 1 by the verdict's rule (faster or slower)."""
        return self.verdict in ("faster", "slower")

    def describe(self, variant: str = "variant", baseline: str = "baseline") -> str:
        interval = (f"{self.ratio:.3g}x, {100 * self.confidence:.0f}% CI {self.low:.3g}-{self.high:.3g}, "
                    f"p={self.p_value:.2g}, {self.rounds} rounds")
        if self.replicates != self.rounds:
            interval += f" in {self.replicates} processes"
        band = f"+-{100 * self.margin:.0f}%"
        if self.verdict == "faster":
            return f"{variant} is {1 / self.ratio:.3g}x faster than {baseline} ({interval})"
        if self.verdict == "slower":
            return f"{variant} is {self.ratio:.3g}x slower than {baseline} ({interval})"
        if self.verdict == "same":
            return f"{variant} runs as fast as {baseline}, within {band} ({interval})"
        return f"{variant} vs {baseline}: undecided, the interval is too wide for a {band} margin ({interval})"

    def as_dict(self) -> dict:
        return asdict(self)


def geometric_mean(values: Sequence[float]) -> float:
    values = np.asarray(values, dtype=float)
    if values.size == 0 or np.any(~np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("geometric mean needs finite positive values")
    return float(np.exp(np.mean(np.log(values))))


def verdict(ratio: float, low: float, high: float, margin: float = MARGIN) -> str:
    """faster / slower / same / undecided for an estimate and its interval (see the module's text)."""
    lower, upper = 1 / (1 + margin), 1 + margin
    if high < 1 and ratio < lower:
        return "faster"
    if low > 1 and ratio > upper:
        return "slower"
    if lower <= low and high <= upper:
        return "same"
    return "undecided"


def paired_ratio(variant_rounds: Sequence[float], baseline_rounds: Sequence[float], *,
                 groups: Sequence[int] | None = None, confidence: float = CONFIDENCE,
                 margin: float = MARGIN) -> RatioEstimate:
    """The ratio of ``variant_rounds`` to ``baseline_rounds`` (paired by position, one value per
    round, e.g. each round's median in ms). ``groups`` names the process each round ran in; with
    more than one, the interval is taken over the per-process means."""
    from scipy import stats

    if len(variant_rounds) != len(baseline_rounds):
        raise ValueError(f"{len(variant_rounds)} variant rounds but {len(baseline_rounds)} baseline rounds")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} must be between 0 and 1")
    if not margin >= 0:
        raise ValueError(f"margin={margin} must be >= 0")
    v, b = np.asarray(variant_rounds, dtype=float), np.asarray(baseline_rounds, dtype=float)
    if np.any(~np.isfinite(v)) or np.any(~np.isfinite(b)) or np.any(v <= 0) or np.any(b <= 0):
        raise ValueError("round times must be finite and positive")
    logs = np.log(v) - np.log(b)
    units = _replicates(logs, groups)
    if units.size < 2:
        raise ValueError(f"{units.size} replicate(s): an interval needs at least 2 rounds (or processes)")
    centre = float(np.mean(logs))
    spread = float(np.std(units, ddof=1))
    if spread <= 1e-12 * max(1.0, abs(centre)):  # a constant ratio, up to rounding
        low = high = centre
        p_value = 1.0 if np.all(units == 0) else 0.0
    else:
        half = float(stats.t.ppf(0.5 + confidence / 2, units.size - 1)) * spread / math.sqrt(units.size)
        low, high = centre - half, centre + half
        p_value = float(stats.ttest_1samp(units, 0.0).pvalue)
    with np.errstate(over="ignore"):  # an interval can be unbounded: 2 wildly different rounds
        ratio, low, high = (float(np.exp(x)) for x in (centre, low, high))
    return RatioEstimate(ratio=ratio, low=min(low, ratio), high=max(high, ratio), p_value=p_value,
                         verdict=verdict(ratio, low, high, margin), rounds=int(logs.size),
                         replicates=int(units.size), confidence=confidence, margin=margin)


def mean_difference(a_rounds: Sequence[float], b_rounds: Sequence[float],
                    confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """The mean of ``a - b`` over rounds (paired by position) and its Student-t interval: e.g. a
    training step's backward, as the step's time less its forward's, read in the same rounds."""
    from scipy import stats

    differences = np.asarray(a_rounds, dtype=float) - np.asarray(b_rounds, dtype=float)
    if differences.size < 2 or not np.all(np.isfinite(differences)):
        raise ValueError("a difference's interval needs at least 2 finite pairs of rounds")
    centre = float(differences.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, differences.size - 1)) * float(
        differences.std(ddof=1)) / math.sqrt(differences.size)
    return centre, centre - half, centre + half


def _replicates(logs: np.ndarray, groups: Sequence[int] | None) -> np.ndarray:
    """The log ratios per round, or their mean per process when rounds came from several."""
    if groups is None:
        return logs
    if len(groups) != logs.size:
        raise ValueError(f"{len(groups)} group labels for {logs.size} rounds")
    labels = np.asarray(groups)
    distinct = list(dict.fromkeys(labels.tolist()))
    if len(distinct) < 2:
        return logs
    return np.array([logs[labels == g].mean() for g in distinct])
