"""A run's tables on the console, fitted to its width without cutting a number.

A table that does not fit first gets short variant labels (``xsep#1``) with a legend under it, then
loses its least needed columns, in a fixed order, until it fits; a line says which were left out.
Counter disagreements, contention and skipped cases are notes under the table, one line per
distinct reason, naming the rows it applies to.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from convbench import backends
from convbench.present.edge_notes import sqnr_text
from convbench.present.formatting import (
    DIGITS,
    VERDICT_MARKS,
    count_unit,
    missing,
    percent,
    ratio,
    si,
    significant,
    truthy,
    with_spread,
)
from convbench.present.paper import hidden_text, latest_per_label
from convbench.present.report import calibration_text, row_notes, short_conventions

VERDICT_STYLES = {"faster": "green", "slower": "red", "same": "dim", "undecided": "yellow"}
COLUMNS = ("variant", "params", "MACs", "kMAC/px", "MAC/B", "latency ms", "roof", "x params", "x MACs", "x latency",
           "CI", "verdict", "x eager", "x fp32", "SQNR dB", "note")
# What a narrow console leaves out, first to last; the variant, the latency ratio and the notes stay.
DROP_ORDER = ("MAC/B", "x params", "roof", "verdict", "kMAC/px", "params", "CI", "x eager", "MACs", "x fp32",
              "x MACs", "SQNR dB", "latency ms")
SHORT_LABEL = 16


def latency_ratio_text(row: dict, digits: int = DIGITS) -> tuple[str, str]:
    """The latency ratio as shown, and its rich style: '~' when the same speed within the margin,
    '?' when undecided."""
    value = row.get("latency_vs_baseline")
    if missing(value):
        return "", ""
    verdict = row.get("verdict")
    if missing(verdict):
        return ratio(value, digits), "bold"  # the baseline itself
    unstable = "†" if truthy(row.get("unstable")) else ""
    return VERDICT_MARKS.get(verdict, "") + ratio(value, digits) + unstable, VERDICT_STYLES.get(verdict, "")


def _cells(row: dict, note: str, digits: int) -> dict[str, str]:
    if row["status"] != "ok":
        return {"note": f"[yellow]{row['status']} {note}[/]"}
    latency = ""
    if not missing(row.get("latency_ms")):
        latency = with_spread(row["latency_ms"], row.get("latency_iqr_ms"), digits)
        latency += " noisy" if truthy(row.get("noisy")) else ""
    text, style = latency_ratio_text(row, digits)
    low, high = row.get("latency_ratio_low"), row.get("latency_ratio_high")
    verdict = "" if missing(row.get("verdict")) else row["verdict"]
    return {
        "params": si(row["params"], digits), "MACs": si(row["macs"], digits),
        "kMAC/px": significant(row["kmac_per_pixel"], digits),
        "MAC/B": significant(row.get("arithmetic_intensity"), 2), "latency ms": latency,
        "roof": percent(row.get("roofline_fraction"), 2), "x params": ratio(row.get("params_vs_baseline"), digits),
        "x MACs": ratio(row.get("macs_vs_baseline"), digits),
        "x latency": f"[{style}]{text}[/]" if style and text else text,
        "CI": "" if missing(low) or missing(high) else f"{significant(low, digits)}-{significant(high, digits)}",
        "verdict": f"[{VERDICT_STYLES.get(verdict, '')}]{verdict}[/]" if verdict else "",
        "x eager": ratio(row.get("latency_vs_eager"), digits),
        "x fp32": ratio(row.get("latency_vs_float32"), digits), "SQNR dB": sqnr_text(row.get("quant_sqnr_db")),
        "note": (f"[bold red]CONTENDED {note}[/]" if truthy(row.get("contended"))
                 else f"[bold yellow]UNSTABLE {note}[/]" if truthy(row.get("unstable")) else note),
    }


def _table(title: str, columns: list[str], labels: list[str], cells: list[dict[str, str]]) -> Table:
    table = Table(title=Text(title), title_justify="left")  # titles and labels are data: never markup
    for column in columns:
        table.add_column(column, justify="left" if column in ("variant", "verdict", "note") else "right",
                         no_wrap=column != "note")
    for label, row in zip(labels, cells):
        table.add_row(Text(label), *[row.get(column, "") for column in columns[1:]])
    return table


def _short_labels(labels: list[str]) -> tuple[list[str], dict[str, str]]:
    """Labels longer than SHORT_LABEL as ``name#n``, and the legend from short to full label."""
    short, legend = [], {}
    for label in labels:
        if len(label) <= SHORT_LABEL:
            short.append(label)
            continue
        name = label.split("(")[0][:SHORT_LABEL - 3]
        key = f"{name}#{sum(1 for s in legend if s.startswith(name + '#')) + 1}"
        legend[key] = label
        short.append(key)
    return short, legend


def fitted_table(title: str, labels: list[str], cells: list[dict[str, str]], width: int
                 ) -> tuple[Table, dict[str, str], list[str]]:
    """The table that fits ``width``: (table, legend of short labels, columns left out)."""
    used = [c for c in COLUMNS if c == "variant" or any(row.get(c) for row in cells)]
    legend: dict[str, str] = {}

    def fits(columns, shown) -> bool:
        roomy = Console(width=10_000)
        table = _table("", columns, shown, cells)
        return Measurement.get(roomy, roomy.options, table).maximum <= width

    if not fits(used, labels):
        labels, legend = _short_labels(labels)
    columns = list(used)
    for column in DROP_ORDER:
        if fits(columns, labels):
            break
        if column in columns:
            columns.remove(column)
    return _table(title, columns, labels, cells), legend, [c for c in used if c not in columns]


def console_tables(df: pd.DataFrame, baseline: str, console: Console | None = None,
                   metadata: dict[str, Any] | None = None, digits: int = DIGITS) -> None:
    """One table per shape (and device): params, MACs, kMAC/px, latency and ratios to the baseline
    with their interval and verdict, fitted to the console's width, with its notes under it."""
    console = console or Console()
    metadata = metadata or {}
    calibration = calibration_text(metadata)
    df = (df.assign(backend=df["backend"].astype(object).fillna(backends.DEFAULT)) if "backend" in df
          else df.assign(backend=backends.DEFAULT))
    several_threads = df["threads"].nunique() > 1
    df = df.assign(thread_axis=df["threads"] if several_threads else 0)
    for (shape, device, dtype, backend, threads), group in df.groupby(
            ["shape", "device", "dtype", "backend", "thread_axis"], sort=False, dropna=False):
        notes: dict[str, list[str]] = {}  # one line per distinct reason, with the rows it applies to

        def mark(reasons: list[str], label: str) -> str:
            for reason in reasons:
                notes.setdefault(reason, []).append(label)
            numbers = ",".join(str(list(notes).index(r) + 1) for r in dict.fromkeys(reasons))
            return f"[{numbers}]" if numbers else ""

        group = latest_per_label(group)
        rows = group.to_dict("records")
        cells = []
        for row in rows:
            if row["status"] != "ok":
                reasons = [f"{row['status']}: {row['error']}"]
            else:
                reasons = row_notes(row, calibration)
            cells.append(_cells(row, mark(reasons, row["label"]), digits))
        runtime = ("" if backends.is_default(backend) else f" on {backend}") + (
            f" at {threads:g} threads" if several_threads and not missing(threads) else "")
        title = f"{shape} | {device} {dtype}{runtime} | x: variant / {baseline}{runtime}"
        table, legend, dropped = fitted_table(title, [r["label"] for r in rows], cells, console.width)
        console.print(table)
        for short, full in legend.items():
            console.print(f"  {short} = {full}", markup=False)
        if dropped:
            console.print(f"  (too narrow for {', '.join(dropped)}; widen the terminal or set COLUMNS, "
                          "or see report.md)", style="dim", markup=False)
        for i, (reason, labels) in enumerate(notes.items(), 1):
            console.print(f"  [{i}] {reason} ({', '.join(labels)})", style="dim", markup=False)
        if group.attrs.get("hidden"):
            console.print(" " + hidden_text(group.attrs["hidden"]), style="dim", markup=False)
    console.print(short_conventions(metadata.get("timing"), count_unit(df.to_dict("records"))), style="dim",
                  markup=False)


def backend_table(df: pd.DataFrame, baseline: str, console: Console, digits: int = DIGITS) -> None:
    """Variants x runtimes, per shape: each cell the latency and its ratio to the baseline on the
    same runtime, so a MAC cut can be seen becoming (or not becoming) speed on each. Fitted to the
    console as the other tables are: short labels first, then the ratios alone."""
    if "backend" not in df or df[["backend", "dtype"]].drop_duplicates().shape[0] < 2:
        return
    several = df["dtype"].nunique() > 1
    df = df.assign(runtime=df["backend"].astype(str) + (" " + df["dtype"].astype(str) if several else ""))
    for shape, group in df.groupby("shape", sort=False):
        names = list(dict.fromkeys(group["runtime"]))
        labels, cells = [], []
        for label, rows in group.groupby("label", sort=False):
            labels.append(str(label))
            row_cells = []
            for name in names:
                row = next(iter(rows[rows["runtime"] == name].to_dict("records")), None)
                if row is None or row["status"] != "ok" or missing(row.get("latency_ms")):
                    row_cells.append(("", "" if row is None else row["status"]))
                    continue
                row_cells.append((significant(row["latency_ms"], digits), latency_ratio_text(row, digits)[0]))
            cells.append(row_cells)

        def table(shown: list[str], with_ms: bool) -> Table:
            what = "latency ms (x" if with_ms else "(x"
            result = Table(title=Text(f"{shape} | {what} {baseline} on the same runtime)"), title_justify="left")
            result.add_column("variant", no_wrap=True)
            for name in names:
                result.add_column(name, justify="right", no_wrap=True)
            for label, row_cells in zip(shown, cells):
                result.add_row(Text(label), *[f"{ms} ({ratio_})" if with_ms and ms else ratio_
                                              for ms, ratio_ in row_cells])
            return result

        def fits(candidate: Table) -> bool:
            roomy = Console(width=10_000)
            return Measurement.get(roomy, roomy.options, candidate).maximum <= console.width

        legend: dict[str, str] = {}
        chosen = table(labels, True)
        if not fits(chosen):
            short, legend = _short_labels(labels)
            chosen = table(short, True)
            if not fits(chosen):
                chosen = table(short, False)
        console.print(chosen)
        for key, full in legend.items():
            console.print(f"  {key} = {full}", markup=False)
