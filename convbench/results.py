"""The result schema (one tidy row per variant x shape x device x dtype), and saving / loading runs.

A run directory holds ``results.csv`` (the rows, appended as each is measured), ``results.json``
(the rows with every raw timing, and the run metadata; rewritten after each row) and ``report.md``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

COLUMNS = [
    "config", "shape", "variant", "label",
    "batch", "in_channels", "out_channels", "kernel_size", "stride", "height", "width",
    "device", "dtype", "memory_format", "mode", "threads",
    "params", "fixed_weights", "macs", "flops", "kmac_per_pixel", "elem_ops", "activation_bytes",
    "bytes_moved", "arithmetic_intensity",
    "params_formula", "macs_formula", "formula_check",
    "macs_ptflops", "macs_ptflops_aten", "params_torchsummary", "count_check",
    "latency_ms", "latency_iqr_ms", "runs", "rounds", "processes", "noisy", "timing_method",
    "peak_memory_bytes", "gmacs_per_s", "gbytes_per_s", "roofline_bound_ms", "roofline_fraction",
    "params_vs_baseline", "macs_vs_baseline", "latency_vs_baseline",
    "latency_ratio_low", "latency_ratio_high", "confidence", "p_value", "significant", "verdict", "margin",
    "contention", "contended", "cpu_steal", "load_avg", "gpu_other_processes", "timing_attempts",
    "status", "error",
]
STATUSES = ("ok", "skipped", "error")


class ResultWriter:
    """Writes every row to disk as soon as it exists, so an interrupted run loses nothing."""

    def __init__(self, directory: str | Path, metadata: dict[str, Any], config: dict[str, Any]):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.directory / "results.csv"
        self.json_path = self.directory / "results.json"
        self.metadata, self.config = metadata, config
        self.rows: list[dict[str, Any]] = []
        self.raw: list[dict[str, Any]] = []
        with self.csv_path.open("w", newline="") as f:
            csv.DictWriter(f, COLUMNS).writeheader()
        self._write_json()

    def add(self, row: dict[str, Any], raw: dict[str, Any] | None = None) -> None:
        self.rows.append(row)
        self.raw.append(raw or {})
        with self.csv_path.open("a", newline="") as f:
            csv.DictWriter(f, COLUMNS).writerow({k: _csv_value(row.get(k)) for k in COLUMNS})
        self._write_json()

    def finish(self, interrupted: bool = False) -> None:
        self.metadata["interrupted"] = interrupted
        self._write_json()

    def _write_json(self) -> None:
        """One JSON document, laid out with a row (and its raw timings) per line."""
        head = {"metadata": self.metadata, "config": self.config}
        rows = [json.dumps({**row, "raw": raw}, default=_json_default) for row, raw in zip(self.rows, self.raw)]
        text = json.dumps(head, indent=1, default=_json_default)[:-2]
        text += ',\n "rows": [\n  ' + ",\n  ".join(rows) + "\n ]\n}\n"
        temporary = self.json_path.with_suffix(".json.tmp")
        temporary.write_text(text)
        os.replace(temporary, self.json_path)


def _csv_value(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame with the schema's columns in order (missing ones empty)."""
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def load_results(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A run's rows and metadata, from its directory, its results.json or its results.csv."""
    path = Path(path)
    if path.is_dir():
        json_path, csv_path = path / "results.json", path / "results.csv"
        path = json_path if json_path.exists() else csv_path
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such results file or run directory")
    if path.suffix == ".json":
        document = json.loads(path.read_text())
        rows = [{k: v for k, v in row.items() if k != "raw"} for row in document.get("rows", [])]
        return frame(rows), document.get("metadata", {})
    if path.suffix == ".csv":
        metadata_path = path.with_name("results.json")
        metadata = json.loads(metadata_path.read_text()).get("metadata", {}) if metadata_path.exists() else {}
        return pd.read_csv(path).reindex(columns=COLUMNS), metadata
    raise ValueError(f"{path}: expected a run directory, results.json or results.csv")
