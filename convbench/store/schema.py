"""The result schema: one tidy row per variant x shape x device x dtype x runtime, its columns in
order, and the metadata *parts* (one per config and machine) that describe a run's rows."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from convbench.backends.runtime import RuntimeFacts
from convbench.store.ratios import BACKWARD, BASELINE, EAGER, FLOAT32, FORWARD
from convbench.store.records import (CaseRecord, ContentionRecord, CountRecord, Measurement, OutputCheck, PoolRecord,
                                     ProfileRecord, RooflineRecord, SplitRecord, StateRecord, SwapRecord, TimingRecord,
                                     column_kinds, column_names)

RECORDS = (CaseRecord, CountRecord, TimingRecord, SplitRecord, PoolRecord, RooflineRecord, OutputCheck, RuntimeFacts,
           ContentionRecord, StateRecord, SwapRecord, ProfileRecord)
RATIOS = (BASELINE, EAGER, FLOAT32, FORWARD, BACKWARD)

COLUMNS = [
    *column_names(CaseRecord),
    *column_names(CountRecord),
    *column_names(TimingRecord),
    *column_names(SplitRecord), *FORWARD.kinds(), *BACKWARD.kinds(),
    *column_names(PoolRecord),
    "peak_memory_bytes", *column_names(RooflineRecord),
    "params_vs_baseline", "macs_vs_baseline", *BASELINE.kinds(),
    *EAGER.kinds(), "eager_ratio_note", *column_names(OutputCheck), *FLOAT32.kinds(),
    *column_names(RuntimeFacts),
    *column_names(ContentionRecord),
    *column_names(StateRecord), "state_ratios",
    *column_names(SwapRecord),
    *column_names(ProfileRecord),
    "status", "error",
]
STATUSES = ("ok", "skipped", "error")
REQUIRED = ("variant", "label", "shape", "status")

# The kind of every column, checked when a results file is read (convbench.store.validation): a
# record's columns by its fields' types, a measurement's own fields likewise, a ratio's by its columns.
KINDS = {name: kind for source in (*RECORDS, Measurement) for name, kind in column_kinds(source).items()
         if name in COLUMNS}
KINDS.update({name: kind for ratio in RATIOS for name, kind in ratio.kinds().items()})
TEXT_COLUMNS = frozenset(name for name, kind in KINDS.items() if kind == "text")
FLAG_COLUMNS = frozenset(name for name, kind in KINDS.items() if kind == "flag")
NUMBER_COLUMNS = frozenset(COLUMNS) - TEXT_COLUMNS - FLAG_COLUMNS
INTEGER_COLUMNS = frozenset(name for name, kind in KINDS.items() if kind == "integer")


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame with the schema's columns in order (missing ones empty)."""
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def plain_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row out of a DataFrame as it was measured: missing values None, counts integers again
    (a column with a gap turns 36864 into 36864.0)."""
    plain = {}
    for key, value in row.items():
        if isinstance(value, float) and math.isnan(value):
            value = None
        elif key in INTEGER_COLUMNS and isinstance(value, float) and value.is_integer():
            value = int(value)
        plain[key] = value
    return plain


def parts_of(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """The metadata of every part of a run (one per config and machine it holds)."""
    return metadata.get("parts") or ([metadata] if metadata else [])


def machine_of(part: dict[str, Any]) -> str | None:
    """A part's machine id (None where it has none)."""
    machine = part.get("machine")
    return machine.get("id") if isinstance(machine, dict) else None


def part_for(metadata: dict[str, Any], config: Any = None, machine: Any = None) -> dict[str, Any]:
    """The metadata describing rows of ``config`` measured on ``machine``."""
    parts = parts_of(metadata)
    for part in parts:
        if (config is None or part.get("config") == config) and (machine is None or machine_of(part) == machine):
            return part
    return parts[0] if parts else {}
