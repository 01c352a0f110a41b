"""Presenting results: rich console tables, the Markdown report, and paper-ready exports
(CSV, Markdown, LaTeX, JSON) with clean column names and units."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

EXPORT_FORMATS = ("csv", "markdown", "latex", "json")

CONVENTIONS = (
    "MACs: multiply-accumulates per image, bias excluded (FLOPs = 2 x MACs), exact dispatch-level count. "
    "kMAC/px: MACs / 1000 / (H x W of the full-resolution input). "
    "MAC/B: MACs per byte moved (every op's inputs, weights and outputs). "
    "roof: share of this machine's roofline bound reached (needs `convbench env --calibrate`). "
    "Latency: median (+- IQR) per forward of the whole batch; ratios are variant / baseline "
    "measured interleaved (< 1 is better); '~' marks a difference that is not significant "
    "(Mann-Whitney U p >= 0.01 over the rounds' medians, or under 5 %)."
)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _number(value, digits: int = 3) -> str:
    if _missing(value):
        return "-"
    value = float(value)
    if value == 0:
        return "0"
    return f"{value:.{digits}g}" if abs(value) < 10 ** digits else f"{value:,.0f}"


def _si(value) -> str:
    """A count with a K / M / G suffix: 7225344 -> 7.23M."""
    if _missing(value):
        return "-"
    value = float(value)
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def _percent(value) -> str:
    return "-" if _missing(value) else f"{100 * float(value):.0f}%"


def _ratio(value) -> str:
    return "-" if _missing(value) else f"{float(value):.2f}x"


def _truthy(value) -> bool:
    return value is True or str(value).lower() == "true"


def counter_notes(row) -> list[str]:
    """Where the formula or the reference counters disagree with the exact count, and why."""
    return [c for c in (row.get("formula_check"), row.get("count_check")) if isinstance(c, str) and c and c != "ok"]


def latency_ratio_text(row) -> tuple[str, str]:
    """The latency ratio as shown, and its rich style: '~' when not significant."""
    ratio = row.get("latency_vs_baseline")
    if _missing(ratio):
        return "-", ""
    if row.get("p_value") is None or _missing(row.get("p_value")):
        return _ratio(ratio), "bold"  # the baseline itself
    if not _truthy(row.get("significant")):
        return f"~{float(ratio):.2f}x", "dim"
    return _ratio(ratio), "green" if float(ratio) < 1 else "red"


def console_tables(df: pd.DataFrame, baseline: str, console: Console | None = None) -> None:
    """One table per shape (and device): params, MACs, kMAC/px, latency and ratios to the baseline.
    Counter disagreements and skipped cases become numbered notes under the table."""
    console = console or Console()
    for (shape, device, dtype), group in df.groupby(["shape", "device", "dtype"], sort=False):
        table = Table(title=f"{shape} | {device} {dtype} | x: variant / {baseline}", title_justify="left")
        for column in ("variant", "params", "MACs", "kMAC/px", "MAC/B", "latency ms", "roof",
                       "x params", "x MACs", "x latency", "note"):
            table.add_column(column, justify="left" if column in ("variant", "note") else "right")
        notes: list[str] = []
        for row in group.to_dict("records"):
            if row["status"] != "ok":
                notes.append(f"{row['label']}: {row['status']}: {row['error']}")
                table.add_row(row["label"], *["-"] * 9, f"[yellow]{row['status']} [{len(notes)}][/]")
                continue
            latency = ("-" if _missing(row.get("latency_ms"))
                       else f"{row['latency_ms']:.3g}+-{row['latency_iqr_ms']:.2g}"
                       + (" noisy" if _truthy(row.get("noisy")) else ""))
            ratio, style = latency_ratio_text(row)
            checks = counter_notes(row)
            if checks:
                notes.append(f"{row['label']}: " + "; ".join(checks))
            table.add_row(
                row["label"], _si(row["params"]), _si(row["macs"]),
                _number(row["kmac_per_pixel"]), _number(row.get("arithmetic_intensity"), 2), latency,
                _percent(row.get("roofline_fraction")), _ratio(row.get("params_vs_baseline")),
                _ratio(row.get("macs_vs_baseline")), f"[{style}]{ratio}[/]" if style else ratio,
                f"[{len(notes)}]" if checks else "",
            )
        console.print(table)
        for i, note in enumerate(notes, 1):
            console.print(f"  [{i}] {note}", style="dim", markup=False)
    console.print(CONVENTIONS, style="dim")


def paper_table(df: pd.DataFrame, baseline: str = "baseline") -> pd.DataFrame:
    """The columns a paper wants, with units in their names."""
    out = pd.DataFrame({
        "Variant": df["label"],
        "Shape": df["shape"],
        "Device": df["device"],
        "Params (K)": df["params"] / 1e3,
        "MACs (M)": df["macs"] / 1e6,
        "kMAC/px": df["kmac_per_pixel"],
        "MACs/byte": df["arithmetic_intensity"],
        "Latency (ms)": df["latency_ms"],
        "IQR (ms)": df["latency_iqr_ms"],
        "Roofline (%)": 100 * df["roofline_fraction"],
        f"Params / {baseline}": df["params_vs_baseline"],
        f"MACs / {baseline}": df["macs_vs_baseline"],
        f"Latency / {baseline}": df["latency_vs_baseline"],
        "Significant": [("yes" if _truthy(v) else "no") if not _missing(v) else "" for v in df["significant"]],
        "Status": df["status"],
    })
    return out.round(3)


def export(df: pd.DataFrame, metadata: dict[str, Any], fmt: str) -> str:
    """``df`` (a run's rows) as ``fmt``: csv, markdown, latex (tables for papers) or json (everything)."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format {fmt!r} must be one of {', '.join(EXPORT_FORMATS)}")
    if fmt == "json":
        records = json.loads(df.to_json(orient="records"))
        return json.dumps({"metadata": metadata, "rows": records}, indent=1)
    table = paper_table(df, metadata.get("baseline", "baseline"))
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "markdown":
        return table.to_markdown(index=False, floatfmt=".3g") + "\n"
    caption = (f"Convolution variants on {metadata.get('device_name', 'this machine')}, "
               f"torch {metadata.get('torch', '?')}. {CONVENTIONS}")
    latex = table.to_latex(index=False, float_format="%.3g", na_rep="--", caption=_latex_text(caption),
                           label="tab:convbench", escape=True)
    return latex.replace("->", r"$\to$")


_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                   "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _latex_text(text: str) -> str:
    """Plain text made safe for LaTeX (pandas escapes the table's cells, not its caption)."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def markdown_report(df: pd.DataFrame, metadata: dict[str, Any], command: str) -> str:
    baseline = metadata.get("baseline", "baseline")
    lines = [f"# convbench: {metadata.get('config', 'run')}", ""]
    if metadata.get("description"):
        lines += [metadata["description"], ""]
    lines += [f"Command: `{command}`", ""]
    keys = ("date", "host", "device_name", "cpu_model", "threads", "torch", "cuda", "cudnn", "dtype",
            "memory_format", "allocator", "timing", "convbench_version", "git_commit")
    lines += [f"- {key}: {metadata.get(key)}" for key in keys if key in metadata]
    if metadata.get("interrupted"):
        lines.append("- **interrupted**: the rows below are those finished before the stop")
    lines += ["", CONVENTIONS, ""]
    for (shape, device), group in df.groupby(["shape", "device"], sort=False):
        lines += [f"## {shape} ({device})", ""]
        ok = group[group["status"] == "ok"]
        if not ok.empty:
            table = paper_table(ok, baseline).drop(columns=["Shape", "Device", "Status"])
            table[f"Latency / {baseline}"] = [latency_ratio_text(r)[0] for r in ok.to_dict("records")]
            lines += [table.to_markdown(index=False, floatfmt=".3g"), ""]
        for row in group.to_dict("records"):
            if row["status"] != "ok":
                lines.append(f"- {row['label']}: {row['status']}: {row['error']}")
                continue
            checks = counter_notes(row)
            if checks:
                lines.append(f"- {row['label']}: " + "; ".join(checks))
        lines.append("")
    return "\n".join(lines)
