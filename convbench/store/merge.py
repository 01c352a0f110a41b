"""Joining runs: shards of one sweep, a resumed run's pieces, or the same sweep on several machines.

Rows are deduplicated by (case id, machine): the first run given wins. A row keeps its machine and
the ratios it was measured with; nothing is ever divided across machines, since every ratio was
taken within its own timing session.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from convbench.store.atomic import new_directory_mode
from convbench.store.files import OutputError, ResultsError, load_results, raw_timings, write_atomically, write_run
from convbench.store.validation import MAX_BYTES
from convbench.store.pooling import pool_repeats
from convbench.store.records import missing_value
from convbench.store.schema import COLUMNS, machine_of, parts_of, plain_row
from convbench.timing.states import STATE_GAP


@dataclass
class Merged:
    df: pd.DataFrame
    metadata: dict[str, Any]
    duplicates: int  # rows dropped because an earlier run had the same case on the same machine
    pooled: int = 0  # rows folded into another run's row of the same case (pool)

    @property
    def machines(self) -> list[str]:
        return [m for m in dict.fromkeys(self.df["machine"]) if not missing_value(m)]


def merge_runs(paths: list[str | Path], warn: Callable[[str], None] | None = None,
               max_bytes: int = MAX_BYTES, pool: bool = False,
               identify: Callable[[pd.DataFrame, dict[str, Any]], pd.DataFrame] | None = None) -> Merged:
    """The rows of every run in ``paths`` (directories, results.jsonl / results.json or results.csv),
    deduplicated (the first run's row of a case wins) or, with ``pool``, a case's timed rows from
    several runs pooled into one (:mod:`convbench.store.pooling`). ``identify`` fills in the case ids
    a run saved before them lacks (:func:`convbench.plan.legacy_ids.with_case_ids`)."""
    if not paths:
        raise ResultsError("no runs to merge")
    frames, parts, sources = [], [], []
    for path in paths:
        df, metadata = load_results(path, warn, max_bytes, identify)
        frames.append(df)
        sources.append(str(path))
        for part in parts_of(metadata):
            key = (part.get("config"), machine_of(part), part.get("date"))
            if key not in {(p.get("config"), machine_of(p), p.get("date")) for p in parts}:
                parts.append({k: v for k, v in part.items() if k != "parts"})
    for note in state_differences(frames, sources):
        (warn or (lambda message: None))(note)
    combined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    metadata = dict(parts[0]) if parts else {}
    metadata["parts"] = parts
    if len(paths) > 1:
        metadata["merged_from"] = sources
    if pool:
        pooled_df, pooled = pool_repeats(combined)
        metadata["pooled"] = pooled
        return Merged(pooled_df, metadata, 0, pooled)
    has_id = combined["case_id"].notna()
    keyed = combined[has_id]
    duplicated = keyed.duplicated(subset=["case_id", "machine"], keep="first")
    kept = pd.concat([keyed[~duplicated], combined[~has_id]]).sort_index()
    return Merged(kept.reset_index(drop=True).reindex(columns=COLUMNS), metadata, int(duplicated.sum()))


def state_levels(df: pd.DataFrame) -> dict[tuple, float]:
    """A run's state-probe level (the median over its timed rows, ms) per (machine, threads)."""
    if "state_probe_ms" not in df:
        return {}
    timed = df[pd.to_numeric(df["state_probe_ms"], errors="coerce").notna()]
    return {(machine, threads): float(pd.to_numeric(group["state_probe_ms"]).median())
            for (machine, threads), group in timed.groupby(["machine", "threads"], dropna=False)}


def state_differences(frames: list[pd.DataFrame], sources: list[str]) -> list[str]:
    """One line for each pair of runs measured on the same machine at the same threads whose
    state-probe levels differ by :data:`STATE_GAP` or more: their ratios may differ for that reason."""
    levels = [state_levels(df) for df in frames]
    notes = []
    for i in range(len(frames)):
        for j in range(i + 1, len(frames)):
            for key in levels[i].keys() & levels[j].keys():
                a, b = levels[i][key], levels[j][key]
                if abs(math.log(a / b)) >= STATE_GAP:
                    notes.append(f"{sources[i]} and {sources[j]} were timed in different machine states (state "
                                 f"probe {a:.3g} vs {b:.3g} ms at {key[1]:g} threads): their ratios may differ "
                                 "for that reason")
    return notes


def write_merged(merged: Merged, paths: list[str | Path], directory: str | Path,
                 reports: Callable[[pd.DataFrame, dict], dict[str, str]], max_bytes: int = MAX_BYTES) -> Path:
    """Save ``merged`` (of the runs in ``paths``) as a run directory with every row's raw timings
    (results.jsonl, results.csv) and the files ``reports`` makes of it (name: text). It is written
    beside ``directory`` and moved into place whole, so a merge that fails leaves nothing behind
    and can be run again; a ``directory`` that already holds anything is refused."""
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise OutputError(f"{directory}: already exists and is not empty; choose a new -o for the merged run")
    raw: dict = {}
    for path in reversed(paths):  # the first run's raw timings win, as its rows do
        raw.update(raw_timings(path, max_bytes))
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.merging-"))
    except OSError as error:
        raise OutputError(f"{directory}: cannot create the merged run ({error.strerror or error})") from None
    try:
        os.chmod(staging, new_directory_mode())  # mkdtemp makes it 0700 whatever the umask
        rows = [plain_row(row) for row in merged.df.astype(object).to_dict("records")]
        write_run(staging, merged.metadata["parts"], rows, [raw.get((r["case_id"], r["machine"]), {}) for r in rows])
        for name, text in reports(merged.df, merged.metadata).items():
            write_atomically(staging / name, text)
        if directory.exists():
            directory.rmdir()
        os.rename(staging, directory)
    except OSError as error:
        raise OutputError(f"{directory}: cannot write the merged run ({error.strerror or error})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory
