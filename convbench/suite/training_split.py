"""A training row's step split into its forward and its backward: the forward alone is read in
the same interleaved rounds as the step, so the backward is the step less the forward, round by
round, with its interval; and each part's ratio to the baseline's same part."""

from __future__ import annotations

from convbench.store.ratios import BACKWARD, FORWARD, RatioColumns
from convbench.store.records import SplitRecord
from convbench.timing import Session
from convbench.timing.stats import RatioEstimate, geometric_mean, mean_difference, paired_ratio

__all__ = ["split_step"]


def split_step(session: Session, step: int, forward: int, base_step: int | None, base_forward: int | None,
               confidence: float, margin: float) -> tuple[SplitRecord, dict[RatioColumns, RatioEstimate]]:
    """The split of the step read at ``step`` with its forward at ``forward``, and each part's ratio
    to the baseline's (read at ``base_step`` and ``base_forward``; None: no baseline on this row's
    axis, and no ratios)."""
    backward = _backward_rounds(session, step, forward)
    centre, low, high = mean_difference(session.round_ms[step], session.round_ms[forward], confidence)
    split = SplitRecord(latency_forward_ms=geometric_mean(session.round_ms[forward]), latency_backward_ms=centre,
                        latency_backward_low_ms=low, latency_backward_high_ms=high)
    if base_step is None or base_forward is None or base_step == step:
        return split, {}
    groups = session.round_process if len(set(session.round_process)) > 1 else None
    ratios = {FORWARD: paired_ratio(session.round_ms[forward], session.round_ms[base_forward], groups=groups,
                                    confidence=confidence, margin=margin)}
    base_backward = _backward_rounds(session, base_step, base_forward)
    if min(backward + base_backward) > 0:  # a round in which the step read faster than its forward has no ratio
        ratios[BACKWARD] = paired_ratio(backward, base_backward, groups=groups, confidence=confidence, margin=margin)
    return split, ratios


def _backward_rounds(session: Session, step: int, forward: int) -> list[float]:
    return [s - f for s, f in zip(session.round_ms[step], session.round_ms[forward])]
