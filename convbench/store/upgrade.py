"""Runs saved in an earlier version of the results format, read as the current one.

Every part a run writes records the format it was written in (``format``: :data:`FORMAT`). A part
without the field was written by format 1, which covers every release before it; its rows may lack
what later releases added. :func:`upgrade` is the one place that fills that in, from what the run
did record:

- the part's machine id, from its host, CPU, versions and threads (as a run computes it now);
- a row's machine, its part's; a row's runtime, eager (the only one there was);
- a tested ratio's replicate count: those runs took the interval over the worker processes where
  there were several (a worker reads one round at least), else over the rounds;
- a row's case id and session, where the caller can compute them (``identify``: the plan's rule,
  :func:`convbench.plan.legacy_ids.with_case_ids`, which lives above the store).

A part of a newer format than this release reads is refused, in one line naming its format.
"""

from __future__ import annotations

from typing import Any, Callable

import pandas as pd

from convbench.store.metadata import machine_fingerprint
from convbench.store.records import missing_value
from convbench.store.schema import machine_of
from convbench.store.validation import ResultsError

FORMAT = 2

Identify = Callable[[pd.DataFrame, dict[str, Any]], pd.DataFrame]


def upgrade(df: pd.DataFrame, metadata: dict[str, Any], identify: Identify | None = None,
            where: str = "results") -> pd.DataFrame:
    """``df`` (a frame of the schema's columns) and ``metadata`` (its parts, changed in place) in
    the current format."""
    parts = metadata.get("parts") or []
    newer = [part.get("format") for part in parts if _format(part) > FORMAT]
    if newer:
        raise ResultsError(f"{where}: written in results format {newer[0]}, newer than this convbench reads "
                           f"(format {FORMAT}); upgrade convbench")
    old = [part for part in parts if _format(part) < FORMAT]
    if not old and parts:
        return identify(df, metadata) if identify else df
    for part in [*old, metadata]:
        _part_machine(part)
        part["format"] = FORMAT
    df = _replicates(_rows_machine(df, parts, metadata))
    df = identify(df, metadata) if identify else df
    return df.copy()  # one block per kind again after the fills


def _format(part: dict[str, Any]) -> int:
    value = part.get("format")
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _part_machine(part: dict[str, Any]) -> None:
    machine = part.get("machine")
    if not (isinstance(machine, dict) and machine.get("id")) and part.get("host"):
        part["machine"] = machine_fingerprint(part)


def _rows_machine(df: pd.DataFrame, parts: list[dict[str, Any]], metadata: dict[str, Any]) -> pd.DataFrame:
    df["backend"] = df["backend"].astype(object).where(df["backend"].notna(), "eager")
    if df["machine"].isna().any():
        machines = {part.get("config"): machine_of(part) for part in parts}
        fallback = machine_of(metadata)
        df["machine"] = [m if not missing_value(m) else machines.get(c, fallback)
                         for m, c in zip(df["machine"], df["config"])]
    return df


def _replicates(df: pd.DataFrame) -> pd.DataFrame:
    lacking = df["ratio_replicates"].isna() & df["verdict"].notna() & df["rounds"].notna()
    if not lacking.any():
        return df
    df["ratio_replicates"] = df["ratio_replicates"].astype(object)
    for index in df.index[lacking]:
        rounds = int(df.at[index, "rounds"])
        processes = df.at[index, "processes"]
        processes = 1 if missing_value(processes) else int(processes)
        df.at[index, "ratio_replicates"] = min(processes, rounds) if processes > 1 else rounds
    return df
