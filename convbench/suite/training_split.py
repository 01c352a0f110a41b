"""A training row's step split into its forward and its backward: the forward alone is read in
the same interleaved rounds as the step, so the backward is the step less the forward, round by
round, with its interval; and each part's ratio to the baseline's same part."""

from __future__ import annotations

from typing import Any

from convbench.store.ratios import BACKWARD, FORWARD
from convbench.timing import Session
from convbench.timing.stats import geometric_mean, mean_difference, paired_ratio

__all__ = ["split_fields"]


def split_fields(session: Session, step: int, forward: int, base_step: int | None, base_forward: int | None,
                 confidence: float, margin: float) -> dict[str, Any]:
    """Row fields of the step read at ``step`` and its forward at ``forward`` (the baseline's at
    ``base_step`` and ``base_forward``; None: no baseline on this row's axis)."""
    backward = _backward_rounds(session, step, forward)
    centre, low, high = mean_difference(session.round_ms[step], session.round_ms[forward], confidence)
    fields: dict[str, Any] = {"latency_forward_ms": geometric_mean(session.round_ms[forward]),
                              "latency_backward_ms": centre, "latency_backward_low_ms": low,
                              "latency_backward_high_ms": high}
    if base_step is None or base_forward is None or base_step == step:
        return fields
    groups = session.round_process if len(set(session.round_process)) > 1 else None
    forward_ratio = paired_ratio(session.round_ms[forward], session.round_ms[base_forward], groups=groups,
                                 confidence=confidence, margin=margin)
    fields.update(FORWARD.flatten(forward_ratio))
    base_backward = _backward_rounds(session, base_step, base_forward)
    if min(backward + base_backward) > 0:  # a round in which the step read faster than its forward has no ratio
        backward_ratio = paired_ratio(backward, base_backward, groups=groups, confidence=confidence, margin=margin)
        fields.update(BACKWARD.flatten(backward_ratio))
    return fields


def _backward_rounds(session: Session, step: int, forward: int) -> list[float]:
    return [s - f for s, f in zip(session.round_ms[step], session.round_ms[forward])]
