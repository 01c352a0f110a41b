"""Pooling repeated runs of one case (``merge --pool``): the same case measured on the same machine in
several runs becomes one row whose numbers say how much the runs agree.

On a machine whose speed comes in phases, one run's interval says how precisely that run measured,
not how far the next run will land; the spread across runs does. A pooled row's latency is the
geometric mean of the runs' latencies (``latency_min_ms`` to ``latency_max_ms`` across them), its
ratio the geometric mean of the runs' ratios, and its interval, p value and verdict those of a
Student-t over the runs' log ratios (:func:`convbench.timing.stats.paired_ratio` with one replicate
per run), at the runs' confidence and margin. ``pooled_runs`` counts the runs and ``run_ratios``
lists their ratios. Rows that were not timed are not pooled: the first run's row stands.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from convbench.store.ratios import BASELINE
from convbench.store.records import missing_value
from convbench.store.schema import COLUMNS
from convbench.timing.stats import CONFIDENCE, MARGIN, paired_ratio


def pool_repeats(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``df`` with the timed rows of each (case id, machine) pooled into one; how many rows went."""
    keyed = df[df["case_id"].notna()]
    rows: list[dict[str, Any]] = []
    pooled = 0
    for _, group in keyed.groupby(["case_id", "machine"], sort=False, dropna=False):
        records = group.to_dict("records")
        timed = [r for r in records if r.get("status") == "ok" and _positive(r.get("latency_ms"))]
        if len(timed) < 2:
            rows.append((timed or records)[0])
            continue
        pooled += len(records) - 1
        rows.append(pooled_row(timed))
    rows += df[df["case_id"].isna()].to_dict("records")
    return pd.DataFrame(rows).reindex(columns=COLUMNS), pooled


def pooled_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row for several runs of one case (see the module's docstring)."""
    row = dict(runs[0])
    latencies = [float(r["latency_ms"]) for r in runs]
    row.update(latency_ms=_geometric_mean(latencies), latency_min_ms=min(latencies), latency_max_ms=max(latencies),
               latency_iqr_ms=None, pooled_runs=len(runs), runs=sum(int(r.get("runs") or 0) for r in runs),
               contended=any(r.get("contended") is True for r in runs),
               unstable=any(r.get("unstable") is True for r in runs), state_ratios=None, instability=None)
    ratios = [float(r["latency_vs_baseline"]) for r in runs if _positive(r.get("latency_vs_baseline"))]
    row["run_ratios"] = ", ".join(f"{ratio:.3g}x" for ratio in ratios) if ratios else None
    if len(ratios) < 2 or all(ratio == 1.0 for ratio in ratios):  # the baseline, or too few to pool
        return row
    confidence = _first(runs, "confidence", CONFIDENCE)
    estimate = paired_ratio(ratios, [1.0] * len(ratios), confidence=confidence, margin=_first(runs, "margin", MARGIN))
    row.update(BASELINE.flatten(estimate))  # its replicates: the runs pooled
    return row


def _positive(value) -> bool:
    return not missing_value(value) and math.isfinite(float(value)) and float(value) > 0


def _geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _first(rows: list[dict[str, Any]], key: str, default: float) -> float:
    return next((float(r[key]) for r in rows if not missing_value(r.get(key))), default)
