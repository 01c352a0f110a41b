"""The result schema: one tidy row per variant x shape x device x dtype x runtime, its columns in
order, and the metadata *parts* (one per config and machine) that describe a run's rows."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from convbench.store.metadata import machine_fingerprint
from convbench.backends.runtime import RuntimeFacts
from convbench.store.records import ContentionRecord, CountRecord, TimingRecord, column_kinds, column_names

COLUMNS = [
    "case_id", "session", "machine", "run", "config", "shape", "variant", "label",
    "batch", "in_channels", "out_channels", "kernel_size", "stride", "height", "width",
    "device", "backend", "dtype", "memory_format", "mode", "threads",
    *column_names(CountRecord),
    *column_names(TimingRecord),
    "latency_forward_ms", "latency_backward_ms", "latency_backward_low_ms", "latency_backward_high_ms",
    "forward_vs_baseline", "forward_ratio_low", "forward_ratio_high", "backward_vs_baseline", "backward_ratio_low",
    "backward_ratio_high",
    "pooled_runs", "latency_min_ms", "latency_max_ms", "run_ratios",
    "peak_memory_bytes", "gmacs_per_s", "gbytes_per_s", "roofline_bound_ms", "roofline_fraction",
    "params_vs_baseline", "macs_vs_baseline", "latency_vs_baseline",
    "latency_ratio_low", "latency_ratio_high", "confidence", "p_value", "significant", "verdict", "margin",
    "ratio_replicates",
    "latency_vs_eager", "eager_ratio_low", "eager_ratio_high", "eager_ratio_note", "backend_max_abs_diff",
    "backend_max_rel_diff", "quant_sqnr_db", "latency_vs_float32", "float32_ratio_low", "float32_ratio_high",
    *column_names(RuntimeFacts),
    *column_names(ContentionRecord),
    "state_probe_ms", "state_probe_spread", "unstable", "instability", "state_ratios",
    "convs_replaced", "convs_kept", "convs_kept_why",
    "status", "error",
]
STATUSES = ("ok", "skipped", "error")
REQUIRED = ("variant", "label", "shape", "status")

# The kind of every column, checked when a results file is read (convbench.store.validation): the
# records' columns by their fields' types, the others listed.
RECORD_KINDS = {name: kind for record in (CountRecord, TimingRecord, ContentionRecord, RuntimeFacts)
                for name, kind in column_kinds(record).items()}
TEXT_COLUMNS = frozenset({
    "case_id", "session", "machine", "run", "config", "shape", "variant", "label", "device", "backend", "dtype",
    "memory_format", "mode", "verdict", "eager_ratio_note", "instability", "state_ratios", "convs_kept_why", "status",
    "error", "run_ratios",
    *(name for name, kind in RECORD_KINDS.items() if kind == "text")})
FLAG_COLUMNS = frozenset({"significant", "unstable", *(name for name, kind in RECORD_KINDS.items() if kind == "flag")})
NUMBER_COLUMNS = frozenset(COLUMNS) - TEXT_COLUMNS - FLAG_COLUMNS
INTEGER_COLUMNS = frozenset({
    "batch", "in_channels", "out_channels", "kernel_size", "stride", "height", "width", "threads", "peak_memory_bytes",
    "convs_replaced", "convs_kept", "pooled_runs", "ratio_replicates",
    *(name for name, kind in RECORD_KINDS.items() if kind == "integer")})


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
    """A part's machine id (computed from its metadata for runs saved before ids existed)."""
    machine = part.get("machine")
    if isinstance(machine, dict) and machine.get("id"):
        return machine["id"]
    return machine_fingerprint(part)["id"] if part.get("host") else None


def part_for(metadata: dict[str, Any], config: Any = None, machine: Any = None) -> dict[str, Any]:
    """The metadata describing rows of ``config`` measured on ``machine``."""
    parts = parts_of(metadata)
    for part in parts:
        if (config is None or part.get("config") == config) and (machine is None or machine_of(part) == machine):
            return part
    return parts[0] if parts else {}


def with_machine(df: pd.DataFrame, metadata: dict[str, Any]) -> pd.DataFrame:
    """Rows saved before machine ids and runtimes existed get their run's machine id, and eager."""
    df["backend"] = df["backend"].astype(object).where(df["backend"].notna(), "eager")
    if df["machine"].isna().any():
        machines = {part.get("config"): machine_of(part) for part in parts_of(metadata)}
        fallback = machine_of(metadata) if metadata else None
        df["machine"] = [m if not missing_value(m) else machines.get(c, fallback)
                         for m, c in zip(df["machine"], df["config"])]
    return df


def missing_value(value) -> bool:
    """None, NaN or an empty string: a value that does not apply or was not measured."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""
