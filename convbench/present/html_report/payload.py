"""The rows and machines a report page shows, as the JSON the page's script reads.

The page holds its data in one ``<script type="application/json">`` element. Every ``<``, ``>`` and
``&`` of that JSON is written as its ``\\u`` escape, so no text from a results file (a label holding
``</script>``, say) can end the element or open another: the browser reads it as characters of a
JSON string, and the script puts it on the page as text, never as markup.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from convbench.present.formatting import missing, truthy
from convbench.present.paper import legend_text, machine_line, method_text
from convbench.present.report import (calibration_text, row_notes, runtime_settings_text, short_conventions,
                                      timing_summary)
from convbench.store.schema import machine_of, part_for, parts_of

# (key in the page, column of a results row); numbers stay numbers, so the page sorts them as such
NUMBERS = (("threads", "threads"), ("batch", "batch"), ("params", "params"), ("macs", "macs"),
           ("kmac_px", "kmac_per_pixel"), ("latency", "latency_ms"), ("iqr", "latency_iqr_ms"),
           ("ratio", "latency_vs_baseline"), ("low", "latency_ratio_low"), ("high", "latency_ratio_high"),
           ("params_ratio", "params_vs_baseline"), ("macs_ratio", "macs_vs_baseline"),
           ("intensity", "arithmetic_intensity"), ("gmacs", "gmacs_per_s"), ("roofline", "roofline_fraction"),
           ("contention", "contention"))
TEXTS = (("case", "case_id"), ("machine", "machine"), ("config", "config"), ("shape", "shape"),
         ("variant", "label"), ("runtime", "backend"), ("dtype", "dtype"), ("per", "per"), ("verdict", "verdict"),
         ("states", "state_ratios"), ("status", "status"))
FLAGS = (("contended", "contended"), ("unstable", "unstable"))
KEYS = (*(k for k, _ in TEXTS), *(k for k, _ in NUMBERS), *(k for k, _ in FLAGS), "baseline", "notes")

FLAGGED = ("resumed", "interrupted")  # listed when they happened
# what each part's machine section lists, in this order, where the part has it
MACHINE_KEYS = ("date", "host", "device_name", "cpu_model", "cpu_count", "threads", "dtype", "memory_format",
                "allocator", "mkldnn", "cudnn_benchmark", "tf32", "python", "torch", "cuda", "cudnn",
                "convbench_version", "git_commit", "shard", "resumed", "interrupted", "stopped", "between_readings")


def _number(value) -> float | int | None:
    if missing(value) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _text(value) -> str:
    return "" if missing(value) else str(value)


def _part(metadata: dict[str, Any], config, machine) -> dict[str, Any]:
    return part_for(metadata, None if missing(config) else config, None if missing(machine) else machine)


def page_rows(df: pd.DataFrame, metadata: dict[str, Any]) -> list[list]:
    """Every row as a list in the order of :data:`KEYS`: texts as written, numbers as numbers
    (missing or infinite ones as null), flags as booleans, the notes a report gives the row."""
    out = []
    for row in df.astype(object).to_dict("records"):
        part = _part(metadata, row.get("config"), row.get("machine"))
        calibration = calibration_text(part)
        texts = [_text(row.get(column)) or ("eager" if key == "runtime" else "") for key, column in TEXTS]
        numbers = [_number(row.get(column)) for _, column in NUMBERS]
        flags = [truthy(row.get(column)) for _, column in FLAGS]
        baseline = part.get("baseline", metadata.get("baseline"))
        is_baseline = not missing(row.get("label")) and row.get("label") == baseline
        if row.get("status") == "ok":
            notes = "; ".join(row_notes(row, calibration))
        else:
            notes = f"{_text(row.get('status'))}: {_text(row.get('error'))}"
        out.append([*texts, *numbers, *flags, bool(is_baseline), notes])
    return out


def page_parts(df: pd.DataFrame, metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per (config, machine) the rows come from, and per part that stopped before any
    row: its machine in words and in detail, its runtimes' versions and settings, its method and
    legend text, the run's summary lines, and its roofline peaks (None when not calibrated)."""
    entries = [_entry(_part(metadata, config, machine), _text(config), _text(machine), rows)
               for (config, machine), rows in df.groupby(["config", "machine"], sort=False, dropna=False)]
    configs = set(df["config"]) if "config" in df else set()
    entries += [_entry(part, _text(part.get("config")), _text(machine_of(part)), df.iloc[0:0])
                for part in parts_of(metadata) if part.get("stopped") and part.get("config") not in configs]
    return entries


def _entry(part: dict[str, Any], config: str, machine: str, rows: pd.DataFrame) -> dict[str, Any]:
    baseline = str(part.get("baseline") or "baseline")
    per = next((str(p) for p in rows.get("per", pd.Series(dtype=object)) if isinstance(p, str) and p), "image")
    peaks = part.get("roofline") or None
    timing = part.get("timing") or {}
    return {
        "config": config, "machine": machine, "description": _text(part.get("description")), "baseline": baseline,
        "summary": machine_line(part),
        "details": [(key, _text(part.get(key))) for key in MACHINE_KEYS
                    if not missing(part.get(key)) and (key not in FLAGGED or truthy(part.get(key)))]
        + [("timing", ", ".join(f"{key} {value}" for key, value in timing.items()))] * bool(timing)
        + [("state probe", _text((part.get("state_probe") or {}).get("kernel")))] * bool(part.get("state_probe")),
        "runtimes": [(str(name), f"{_text(version)}; {runtime_settings_text(part, name)}")
                     for name, version in (part.get("backends") or {}).items()],
        "method": method_text(part, baseline, per),
        "conventions": short_conventions(timing, per),
        "legend": legend_text(float(timing.get("margin", 0.05)), baseline,
                              any(truthy(v) for v in rows.get("contended", [])),
                              any(truthy(v) for v in rows.get("unstable", []))),
        "run_lines": timing_summary(rows, part) if len(rows) else [],
        "calibration": calibration_text(part) or "",
        "confidence": float(timing.get("confidence", 0.95)),
        "roofline": ({"peak": float(peaks["peak_gmacs_per_s"]), "bandwidth": float(peaks["bandwidth_gb_per_s"])}
                     if peaks and "peak_gmacs_per_s" in peaks and "bandwidth_gb_per_s" in peaks else None),
    }


def script_json(data: Any) -> str:
    """``data`` as JSON that is inert inside a ``<script>`` element: ASCII only (a lone surrogate
    from a results file stays an escape, not an encoding error), and no ``<``, ``>`` or ``&``, each
    written as its \\u escape."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    for char in "<>&":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text
