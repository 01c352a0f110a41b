"""Machine states: what the state probe (:mod:`convbench.timing.state_probe`) saw over a session's
rounds, and the ratio in each state.

Each round has one probe level, the median of the probe's readings in that round. The rounds'
levels (on a log scale) are split in two by 1-D 2-means. The machine **changed state** when the two
groups' levels differ by at least :data:`STATE_GAP` (20 %) and are well apart for their spread (the
empty band between the upper group's lowest level and the lower group's highest is at least
:data:`SEPARATION` times the pooled within-group standard deviation), so that noise around one
level, or a steady drift, is not read as two states. It **drifted** when the levels do not form two groups
but move steadily with time (|Spearman rho| >= :data:`DRIFT_RHO` against the round's start) by at
least :data:`STATE_GAP` from first to last. Where there are two states, each round is labelled A
(the lower probe level, the faster machine) or B, and a ratio is given per state: the answer in
each state, rather than one blend of both.

A ratio is **unstable** when the machine drifted, or when it changed state and the ratio depends
on the state: each state has at least two rounds, and Welch's t-test on the per-round log ratios
of the two states rejects equality at the comparison's confidence with a difference beyond its
margin (:func:`depends_on_state`). A state change that leaves the ratio where it was (the machine
slowed the variant and the baseline alike) is reported, and the blended interval, which holds the
rounds of both states, stands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from convbench.timing.stats import CONFIDENCE, MARGIN, RatioEstimate, paired_ratio

__all__ = ["DRIFT_RHO", "SEPARATION", "STATE_GAP", "MachineStates", "StateRatio", "depends_on_state",
           "machine_states", "ratio_by_state"]

STATE_GAP = math.log(1.2)  # probe levels this far apart (20 %) are different states
SEPARATION = 2.0  # ... when the band between them is this many pooled standard deviations of each group
DRIFT_RHO = 0.8  # a steady trend this strong over the rounds, by STATE_GAP or more, is a drift
NAMES = "AB"


@dataclass(frozen=True)
class MachineStates:
    """The probe's level in each round and what it says: ``labels[r]`` is round ``r``'s state
    (0 = A, 1 = B; all 0 with one state); ``levels_ms`` each state's median probe level."""

    round_levels_ms: tuple[float, ...]
    labels: tuple[int, ...]
    levels_ms: tuple[float, ...]
    drift: bool = False

    @property
    def level_ms(self) -> float:
        """The median probe level over all rounds, ms."""
        return float(np.median(self.round_levels_ms))

    @property
    def spread(self) -> float:
        """Highest / lowest round level (1.0 when every round read the same)."""
        return max(self.round_levels_ms) / min(self.round_levels_ms)

    @property
    def states(self) -> int:
        return len(self.levels_ms)

    @property
    def changed(self) -> bool:
        """The machine changed state or drifted during the rounds."""
        return self.states > 1 or self.drift

    def describe(self) -> str:
        if self.states > 1:
            shares = [self.labels.count(s) / len(self.labels) for s in range(self.states)]
            parts = ", ".join(f"{NAMES[s]} {self.levels_ms[s]:.3g} ms ({share:.0%} of rounds)"
                              for s, share in enumerate(shares))
            return f"the machine changed state during the rounds: state probe {parts}"
        if self.drift:
            first, last = self.round_levels_ms[0], self.round_levels_ms[-1]
            return f"the machine drifted during the rounds: state probe {first:.3g} -> {last:.3g} ms"
        return f"one machine state: state probe {self.level_ms:.3g} ms (spread {self.spread:.2f}x)"


def machine_states(round_levels_ms: Sequence[float], round_start_s: Sequence[float] | None = None) -> MachineStates:
    """Read the probe's per-round levels (ms) as one state, two states, or a drift."""
    levels = tuple(float(v) for v in round_levels_ms)
    if not levels or min(levels) <= 0:
        raise ValueError("probe levels must be positive milliseconds, one per round")
    x = np.log(levels)
    high = _two_means(x)
    if high.any() and not high.all():
        gap = x[high].mean() - x[~high].mean()
        within = math.sqrt((((x[high] - x[high].mean()) ** 2).sum() + ((x[~high] - x[~high].mean()) ** 2).sum())
                           / max(1, len(x) - 2))
        edge = x[high].min() - x[~high].max()  # the empty band between the two groups
        if gap >= STATE_GAP and edge >= SEPARATION * within:
            labels = tuple(int(h) for h in high)
            per_state = tuple(float(np.median([v for v, h in zip(levels, high) if h == s])) for s in (False, True))
            return MachineStates(levels, labels, per_state)
    times = np.arange(len(x)) if round_start_s is None else np.asarray(round_start_s, dtype=float)
    drift = False
    if len(x) >= 4 and x.max() - x.min() >= STATE_GAP and np.ptp(times) > 0:
        from scipy import stats

        rho = stats.spearmanr(times, x).statistic
        drift = bool(abs(rho) >= DRIFT_RHO and abs(x[-1] - x[0]) >= STATE_GAP)
    return MachineStates(levels, (0,) * len(levels), (float(np.median(levels)),), drift=drift)


def _two_means(x: np.ndarray) -> np.ndarray:
    """Which values fall in the upper of the two groups that 1-D 2-means makes (all False for
    fewer than two distinct values)."""
    order = np.sort(x)
    best_cost, split = math.inf, None
    for i in range(1, len(order)):
        if order[i] == order[i - 1]:
            continue
        low, high = order[:i], order[i:]
        cost = ((low - low.mean()) ** 2).sum() + ((high - high.mean()) ** 2).sum()
        if cost < best_cost:
            best_cost, split = cost, order[i]
    return x >= split if split is not None else np.zeros(len(x), dtype=bool)


@dataclass(frozen=True)
class StateRatio:
    """A ratio measured in one machine state: ``estimate`` is None when the state has one round
    (its ratio is that round's, with no interval)."""

    state: str
    share: float
    probe_ms: float
    ratio: float
    estimate: RatioEstimate | None

    def describe(self) -> str:
        interval = (f" (95% CI {self.estimate.low:.3g}-{self.estimate.high:.3g})" if self.estimate is not None
                    else " (1 round, no interval)")
        return (f"{self.ratio:.3g}x{interval} in state {self.state} (probe {self.probe_ms:.3g} ms, "
                f"{self.share:.0%} of rounds)")


def ratio_by_state(variant_ms: Sequence[float], baseline_ms: Sequence[float], states: MachineStates,
                   confidence: float = CONFIDENCE, margin: float = MARGIN) -> list[StateRatio]:
    """The variant / baseline ratio in each state the probe told apart; empty with one state."""
    if states.states < 2:
        return []
    result = []
    for s in range(states.states):
        rounds = [r for r, label in enumerate(states.labels) if label == s]
        v = [variant_ms[r] for r in rounds]
        b = [baseline_ms[r] for r in rounds]
        estimate = paired_ratio(v, b, confidence=confidence, margin=margin) if len(rounds) >= 2 else None
        ratio = estimate.ratio if estimate is not None else v[0] / b[0]
        result.append(StateRatio(NAMES[s], len(rounds) / len(states.labels), states.levels_ms[s], ratio, estimate))
    return result


def depends_on_state(variant_ms: Sequence[float], baseline_ms: Sequence[float], states: MachineStates,
                     confidence: float = CONFIDENCE, margin: float = MARGIN) -> bool:
    """Whether the variant / baseline ratio differs between the two states: both have at least two
    rounds, Welch's t-test of their per-round log ratios gives p < 1 - ``confidence``, and the
    per-state ratios are further apart than ``margin``."""
    if states.states < 2:
        return False
    logs = np.log(np.asarray(variant_ms, dtype=float)) - np.log(np.asarray(baseline_ms, dtype=float))
    labels = np.asarray(states.labels)
    a, b = logs[labels == 0], logs[labels == 1]
    if len(a) < 2 or len(b) < 2:
        return False
    apart = abs(a.mean() - b.mean()) > math.log1p(margin)
    if not apart:
        return False
    if np.ptp(a) < 1e-12 and np.ptp(b) < 1e-12:  # two constant ratios, a margin apart
        return True
    from scipy import stats

    return bool(stats.ttest_ind(a, b, equal_var=False).pvalue < 1 - confidence)
