"""Joining runs: shards of one sweep, a resumed run's pieces, or the same sweep on several machines.

Rows are deduplicated by (case id, machine): the first run given wins. A row keeps its machine and
the ratios it was measured with; nothing is ever divided across machines, since every ratio was
taken within its own timing session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from convbench.store.files import ResultsError, ResultWriter, load_results, raw_timings, write_atomically
from convbench.store.schema import COLUMNS, machine_of, missing_value, parts_of


@dataclass
class Merged:
    df: pd.DataFrame
    metadata: dict[str, Any]
    duplicates: int  # rows dropped because an earlier run had the same case on the same machine

    @property
    def machines(self) -> list[str]:
        return [m for m in dict.fromkeys(self.df["machine"]) if not missing_value(m)]


def merge_runs(paths: list[str | Path], warn: Callable[[str], None] | None = None) -> Merged:
    """The rows of every run in ``paths`` (directories, results.json or results.csv), deduplicated."""
    if not paths:
        raise ResultsError("no runs to merge")
    frames, parts, sources = [], [], []
    for path in paths:
        df, metadata = load_results(path, warn)
        frames.append(df)
        sources.append(str(path))
        for part in parts_of(metadata):
            key = (part.get("config"), machine_of(part), part.get("date"))
            if key not in {(p.get("config"), machine_of(p), p.get("date")) for p in parts}:
                parts.append({k: v for k, v in part.items() if k != "parts"})
    combined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    has_id = combined["case_id"].notna()
    keyed = combined[has_id]
    duplicated = keyed.duplicated(subset=["case_id", "machine"], keep="first")
    kept = pd.concat([keyed[~duplicated], combined[~has_id]]).sort_index()
    metadata = dict(parts[0]) if parts else {}
    metadata["parts"] = parts
    if len(paths) > 1:
        metadata["merged_from"] = sources
    return Merged(kept.reset_index(drop=True).reindex(columns=COLUMNS), metadata, int(duplicated.sum()))


def write_merged(merged: Merged, paths: list[str | Path], directory: str | Path,
                 report: Callable[[pd.DataFrame, dict], str]) -> Path:
    """Save ``merged`` (of the runs in ``paths``) as a run directory with every row's raw timings
    (results.csv, results.json, report.md); refuses one that already holds results."""
    raw: dict = {}
    for path in reversed(paths):  # the first run's raw timings win, as its rows do
        raw.update(raw_timings(path))
    writer = ResultWriter(directory)
    try:
        rows = merged.df.astype(object).where(merged.df.notna(), None).to_dict("records")
        writer.replace(merged.metadata["parts"], rows, [raw.get((r["case_id"], r["machine"]), {}) for r in rows])
        write_atomically(writer.directory / "report.md", report(merged.df, merged.metadata))
    finally:
        writer.release()
    return writer.directory
