"""Presenting results: what each number means, the notes a row gets, the Markdown report, and the
exports (CSV and JSON with every column; Markdown and LaTeX as paper tables, see
:mod:`convbench.present.paper`)."""

from __future__ import annotations

import csv
import json
from typing import Any

import pandas as pd

from convbench import backends
from convbench.present.edge_notes import edge_notes
from convbench.present.escaping import csv_cell, markdown_code, markdown_text
from convbench.present.formatting import DIGITS, missing, ratio, si, significant, truthy
from convbench.present.profile_table import markdown_sections, profile_notes
from convbench.store.ratios import BACKWARD, FORWARD
from convbench.store.schema import machine_of, part_for
from convbench.timing.contention import THRESHOLD
from convbench.timing.stats import CONFIDENCE, MARGIN

EXPORT_FORMATS = ("csv", "markdown", "latex", "json")


def short_conventions(timing: dict[str, Any] | None = None, per: str = "image") -> str:
    """The conventions in three lines, for under the console tables (report.md has them in full)."""
    timing = timing or {}
    margin = 100 * float(timing.get("margin", MARGIN))
    confidence = 100 * float(timing.get("confidence", CONFIDENCE))
    rounds, processes = timing.get("rounds"), int(timing.get("processes") or 1)
    processes = min(processes, int(rounds)) if rounds else processes  # a worker reads one round at least
    where = f" in {processes} processes" if processes > 1 else ""
    min_span = float(timing.get("min_span") or 0)
    where += f" spread over >= {min_span:g} s" if min_span > 0 else " back to back"
    return (f"MACs: exact count per {per} (FLOPs = 2 x MACs). latency ms: geometric mean of the medians of "
            f"{rounds or ''} interleaved rounds{where} ± IQR. x: variant / baseline (geometric mean of per-round "
            f"ratios) with its {confidence:.0f}% CI; ~ same within ±{margin:.0f}%, ? undecided, ! contended, "
            f"† unstable (the machine changed state).")


def si_count(value) -> str:
    """A count with a K / M / G suffix: 7225344 -> 7.23M; '-' when missing."""
    return si(value) or "-"


def format_ratio(value) -> str:
    return ratio(value) or "-"


def swap_notes(row) -> list[str]:
    """For a network: how many convs the variant replaced, and which it left as they were."""
    replaced = row.get("convs_replaced")
    kept = row.get("convs_kept")
    if missing(replaced) or (not replaced and (missing(kept) or not kept)):
        return []
    text = f"replaced {int(replaced)} convs"
    if not missing(kept) and kept:
        text += f", kept {int(kept)} ({row.get('convs_kept_why')})"
    return [text]


# A reference counter that merely cannot run on a module is not a disagreement worth a note per row
# (torchsummary on a block whose submodules have no .weight / .bias); the CSV keeps it.
NOT_A_DISAGREEMENT = ("torchsummary: crashed, no submodule has a .weight or .bias to count",)


def counter_notes(row) -> list[str]:
    """Where the formula or the reference counters disagree with the exact count, and why."""
    reasons = [part for check in (row.get("formula_check"), row.get("count_check"))
               if isinstance(check, str) and check not in ("", "ok", "n/a") for part in _reasons(check)]
    return [r for r in reasons if r not in NOT_A_DISAGREEMENT]


def count_notes(row) -> list[str]:
    """What a row's counts are per, where not per image at dim 0; the int8 share of its MACs; and
    the ops that make its count hold for the input it was made on only."""
    notes = []
    per, source = row.get("per"), row.get("batch_source")
    if isinstance(per, str) and per and (per != "image" or not missing(row.get("batch_dim")) and row["batch_dim"]):
        where = "unbatched" if missing(row.get("batch_dim")) else f"batch at dim {int(row['batch_dim'])}"
        notes.append(f"counts per {per}: {where} ({source})")
    int8 = row.get("macs_int8")
    if not missing(int8) and int8:
        notes.append(f"{int8:,.0f} of its MACs per {per or 'image'} are int8 (quantized kernels)")
    depends = row.get("count_depends_on")
    if isinstance(depends, str) and depends:
        notes.append(f"MACs hold for this input only: it ran {depends}")
    return notes


def _reasons(check: str) -> list[str]:
    """A check's reasons: split at "; " outside parentheses (a reason may hold its own)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(check):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and check.startswith("; ", i):
            parts.append(check[start:i])
            start = i + 2
    return [*parts, check[start:]]


def training_notes(row) -> list[str]:
    """A training row's step split into its forward and its backward (the step less the forward,
    read in the same rounds), and each part's ratio to the baseline's."""
    forward, backward = row.get("latency_forward_ms"), row.get("latency_backward_ms")
    if missing(forward) or missing(backward):
        return []
    after = "backward" if row.get("mode") in (None, "training") else "backward and optimizer step"
    text = (f"step = forward {significant(forward)} ms + {after} {significant(backward)} ms "
            f"(CI {significant(row.get('latency_backward_low_ms'))}-"
            f"{significant(row.get('latency_backward_high_ms'))} ms)")
    if not missing(row.get("macs_backward")):
        text += f"; MACs forward {si(row['macs'])} + backward {si(row['macs_backward'])}"
        if not missing(row.get("macs_recomputed")) and row["macs_recomputed"]:
            text += f" (of which {si(row['macs_recomputed'])} recomputed by checkpointing)"
    parts = [f"{name} {ratio(row[columns.ratio])} (CI {ratio(row[columns.low])}-{ratio(row[columns.high])})"
             for name, columns in (("forward", FORWARD), ("backward", BACKWARD)) if not missing(row.get(columns.ratio))]
    if parts:
        text += "; vs baseline: " + ", ".join(parts)
    return [text]


def compile_notes(row) -> list[str]:
    """For a torch.compile row whose module did not run as one compiled graph: what ran."""
    breaks, eager, recompiles = (row.get(f"dynamo_{key}") for key in ("graph_breaks", "eager_frames", "recompiles"))
    if all(missing(v) or not v for v in (breaks, eager, recompiles)):
        return []
    return [f"torch.compile ran {int(row['dynamo_graphs'])} graphs: {int(breaks or 0)} graph breaks, "
            f"{int(eager or 0)} frames eager, {int(recompiles or 0)} recompiles"]


def row_notes(row, calibration: str | None = None) -> list[str]:
    """Everything a row's reader should know beside its numbers."""
    return (row_warnings(row, calibration) + pooled_notes(row) + swap_notes(row) + training_notes(row)
            + count_notes(row) + counter_notes(row) + compile_notes(row) + edge_notes(row) + profile_notes(row))


def pooled_notes(row) -> list[str]:
    """For a row pooled over several runs: the runs, their spread and their ratios."""
    runs = row.get("pooled_runs")
    if missing(runs) or int(runs) < 2:
        return []
    spread = f"latency {significant(row['latency_min_ms'])}-{significant(row['latency_max_ms'])} ms across runs"
    ratios = f"; ratios {row['run_ratios']}" if isinstance(row.get("run_ratios"), str) else ""
    return [f"pooled over {int(runs)} runs: {spread}{ratios}; its interval is the runs' spread"]


def row_warnings(row, calibration: str | None = None) -> list[str]:
    """What makes a timed row less than a result: contention, a roofline share above 100 %."""
    warnings = []
    if truthy(row.get("contended")):
        warnings.append(f"CONTENDED: other processes took {float(row['contention']):.2f} cores while timing")
    if truthy(row.get("unstable")):
        per_state = row.get("state_ratios")
        warnings.append(f"UNSTABLE: {row.get('instability')}"
                        + (f"; per state: {per_state}" if isinstance(per_state, str) and " in state " in per_state
                           else ""))
    fraction = row.get("roofline_fraction")
    if not missing(fraction) and float(fraction) > 1:
        warnings.append(f"{100 * float(fraction):.0f}% of the roofline: faster than the calibrated peak"
                        + (f" ({calibration})" if calibration else "")
                        + "; recalibrate with `convbench env --calibrate` on a quiet machine")
    return warnings


def calibration_text(metadata: dict[str, Any]) -> str | None:
    peaks = metadata.get("roofline") or {}
    if not peaks:
        return None
    return (f"calibration of {peaks.get('date', 'unknown date')}: {peaks['peak_gmacs_per_s']:.1f} GMAC/s, "
            f"{peaks['bandwidth_gb_per_s']:.1f} GB/s")


def timing_summary(df: pd.DataFrame, metadata: dict[str, Any] | None = None) -> list[str]:
    """The lines that end a run: how many timed rows were contended, and how many read above the roofline."""
    if "latency_ms" not in df or df["latency_ms"].isna().all():
        return []
    timed = df[df["latency_ms"].notna()]
    contended = timed[[truthy(v) for v in timed["contended"]]]
    threshold = float(((metadata or {}).get("timing") or {}).get("contention_threshold", THRESHOLD))
    worst = timed["contention"].max()
    lines = [f"contention: {len(contended)} of {len(timed)} timed rows contended (others took more than "
             f"{threshold:g} cores; the most was {float(worst):.2f} cores)"
             + (": those timings are not results; rerun on a quiet machine" if len(contended) else "")]
    if "unstable" in timed:
        unstable = timed[[truthy(v) for v in timed["unstable"]]]
        spans = timed["span_s"].dropna() if "span_s" in timed else pd.Series(dtype=float)
        span = f"rounds spread over {spans.min():.0f}-{spans.max():.0f} s; " if len(spans) else ""
        probe = timed["state_probe_ms"].dropna() if "state_probe_ms" in timed else pd.Series(dtype=float)
        level = f"state probe {significant(probe.min())}-{significant(probe.max())} ms; " if len(probe) else ""
        calibrated = ((metadata or {}).get("state_probe") or {}).get("calibrated_ms")
        level += (f"calibrated {significant(calibrated)} ms; " if calibrated else
                  "no calibrated level to tell another state by (`convbench env --calibrate`); ")
        lines.append(f"machine state: {span}{level}{len(unstable)} of {len(timed)} timed rows unstable"
                     + (" (see their notes)" if len(unstable) else ""))
    above = timed[timed["roofline_fraction"].fillna(0) > 1]
    if len(above):
        calibration = calibration_text(metadata or {})
        lines.append(f"roofline: {len(above)} rows above 100% of the calibrated peak"
                     + (f" ({calibration})" if calibration else "") + "; recalibrate with `convbench env --calibrate`")
    return lines


def tidy_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every row with the columns a reader of a CSV wants, units in their names, the machine kept;
    numbers at full precision, counts as integers, flags as booleans."""
    return pd.DataFrame({
        "Machine": df["machine"], "Run": df["run"], "Config": df["config"], "Case": df["case_id"],
        "Variant": df["label"], "Shape": df["shape"], "Device": df["device"], "Dtype": df["dtype"],
        "Params": _integers(df["params"]), "MACs": _integers(df["macs"]), "kMAC/px": df["kmac_per_pixel"],
        "MACs/byte": df["arithmetic_intensity"], "Bytes moved": _integers(df["bytes_moved"]),
        "Backward MACs": _integers(df["macs_backward"]), "Activations (B)": _integers(df["activation_memory_bytes"]),
        "Saved for backward (B)": _integers(df["saved_for_backward_bytes"]),
        "Peak memory (B)": _integers(df["peak_memory_bytes"]),
        "Latency (ms)": df["latency_ms"], "IQR (ms)": df["latency_iqr_ms"],
        "Forward (ms)": df["latency_forward_ms"], "Backward (ms)": df["latency_backward_ms"],
        "Roofline (%)": 100 * df["roofline_fraction"], "Params / baseline": df["params_vs_baseline"],
        "MACs / baseline": df["macs_vs_baseline"], "Latency / baseline": df["latency_vs_baseline"],
        "Ratio CI low": df["latency_ratio_low"], "Ratio CI high": df["latency_ratio_high"],
        "Runtime": df["backend"], "Latency / eager": df["latency_vs_eager"],
        "Verdict": ["" if missing(v) else v for v in df["verdict"]],
        "Contention (cores)": df["contention"], "Contended": _flags(df["contended"]),
        "Threads": _integers(df["threads"]), "Rounds span (s)": df["span_s"], "State probe (ms)": df["state_probe_ms"],
        "Unstable": _flags(df["unstable"]),
        "Ratio per state": ["" if missing(v) else v for v in df["state_ratios"]],
        "Status": df["status"],
    })


def _integers(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column, errors="coerce").round().astype("Int64")


def _flags(column: pd.Series) -> pd.Series:
    return pd.Series([None if missing(v) else truthy(v) for v in column], index=column.index, dtype="boolean")


def export(df: pd.DataFrame, metadata: dict[str, Any], fmt: str, digits: int = DIGITS,
           shape: str | None = None, layout: str = "onecolumn") -> str:
    """``df`` (the rows of one or more runs) as ``fmt``: csv (every row, tidy, at full precision),
    markdown or latex (one paper table per shape, numbers to ``digits`` significant figures;
    ``shape`` picks those whose label contains it) or json (everything)."""
    from convbench.present.latex import latex_runtime_tables, latex_tables
    from convbench.present.paper import markdown_tables, runtime_tables, table_groups

    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format {fmt!r} must be one of {', '.join(EXPORT_FORMATS)}")
    if shape is not None:
        chosen = pd.concat([group for _, group in table_groups(df, shape, latest=False)])
        df = df.loc[chosen.index]
    if fmt == "json":
        records = json.loads(df.to_json(orient="records"))
        return json.dumps({"metadata": metadata, "rows": records}, indent=1)
    if fmt == "csv":
        # every text cell quoted: a carriage return inside one cannot end its record
        return tidy_table(df).map(csv_cell).to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC)
    if fmt == "markdown":
        pivot = runtime_tables(df, metadata, digits)
        return (pivot + "\n" if pivot else "") + markdown_tables(df, metadata, digits)
    pivot = latex_runtime_tables(df, metadata, digits, layout)
    return (pivot + "\n" if pivot else "") + latex_tables(df, metadata, digits, layout=layout)


def runtime_settings_text(part: dict, name: str) -> str:
    """How runtime ``name`` was set up, at each thread count: ``2 threads: threads 2, grad ...``."""
    by_threads = (part.get("backend_settings") or {}).get(name) or {}
    return " / ".join(f"{threads} threads: " + ", ".join(f"{k} {v}" for k, v in settings.items())
                      for threads, settings in by_threads.items()) or "settings not recorded"


def markdown_report(df: pd.DataFrame, metadata: dict[str, Any], command: str, digits: int = DIGITS) -> str:
    """report.md: the command, each part's machine and settings, then a table per shape with its
    notes."""
    from convbench.present.memory import memory_tables
    from convbench.present.paper import markdown_tables

    parts = metadata.get("parts") or [metadata]
    names = ", ".join(dict.fromkeys(str(p.get("config", "run")) for p in parts))
    text = markdown_text
    lines = [f"# convbench: {text(names)}", ""]
    if command:
        lines += [f"Command: {markdown_code(command)}", ""]
    keys = ("date", "host", "device_name", "cpu_model", "threads", "torch", "cuda", "cudnn", "dtype",
            "memory_format", "allocator", "timing", "shard", "resumed", "convbench_version", "git_commit")
    for (config, machine), rows in df.groupby(["config", "machine"], sort=False, dropna=False):
        part = part_for(metadata, config, machine)
        lines += [f"## {text(config)} on {text(machine)}", ""]
        if part.get("description"):
            lines += [text(part["description"]), ""]
        lines += [f"- {key}: {text(part.get(key))}" for key in keys if key in part]
        if part.get("interrupted"):
            lines.append("- **interrupted**: the rows below are those finished before the stop")
        if part.get("stopped"):
            lines.append(f"- **stopped**: {text(part['stopped'])}")
        same = [p for p in parts if p.get("config") == config and machine_of(p) == machine]
        if len(same) > 1:
            lines.append(f"- measured in {len(same)} parts: " + text("; ".join(
                f"{'shard ' + str(p['shard']) + ', ' if p.get('shard') else ''}{p.get('date', 'undated')}"
                for p in same)))
        lines += [f"- runtime {text(name)}: {text(f'{version}; {runtime_settings_text(part, name)}')}"
                  for name, version in (part.get("backends") or {}).items() if not backends.is_default(name)]
        lines += [f"- {text(line)}" for line in timing_summary(rows, part)]
        lines.append("")
        ok = rows[rows["status"] == "ok"]
        if not ok.empty:
            lines.append(markdown_tables(ok, metadata, digits, level="###"))
            lines.append(memory_tables(ok, level="###"))
        calibration = calibration_text(part)
        for row in rows.to_dict("records"):
            if row["status"] != "ok":
                lines.append("- " + text(f"{row['shape']}: {row['label']}: {row['status']}: {row['error']}"))
                continue
            checks = row_notes(row, calibration)
            if checks:
                lines.append("- " + text(f"{row['shape']}: {row['label']}: " + "; ".join(checks)))
        lines.append("")
        lines += markdown_sections(ok.to_dict("records"), text)
    for part in parts:  # parts that ended before any row, e.g. a run stopped at once
        if part.get("stopped") and not (df["config"] == part.get("config")).any():
            lines.append("- " + text(f"{part.get('config')}: ") + f"**stopped**: {text(part['stopped'])}")
    return "\n".join(lines)
