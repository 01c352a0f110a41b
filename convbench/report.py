"""Presenting results: rich console tables, the Markdown report, and paper-ready exports
(CSV, Markdown, LaTeX, JSON) with clean column names and units."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from convbench.contention import THRESHOLD
from convbench.stats import CONFIDENCE, MARGIN

EXPORT_FORMATS = ("csv", "markdown", "latex", "json")

def conventions(timing: dict[str, Any] | None = None) -> str:
    """How every number in a table was obtained, for the notes under it."""
    timing = timing or {}
    margin = 100 * float(timing.get("margin", MARGIN))
    confidence = 100 * float(timing.get("confidence", CONFIDENCE))
    threshold = float(timing.get("contention_threshold", THRESHOLD))
    rounds = timing.get("rounds")
    processes = int(timing.get("processes") or 1)
    where = f" in {processes} fresh processes" if processes > 1 else ""
    return (
        "MACs: multiply-accumulates per image, bias excluded (FLOPs = 2 x MACs), exact dispatch-level count. "
        "kMAC/px: MACs / 1000 / (H x W of the full-resolution input). "
        "MAC/B: MACs per byte moved (every op's inputs, weights and outputs). "
        "roof: share of this machine's roofline bound reached (after `convbench env --calibrate`). "
        f"Latency: per forward of the whole batch; each shape's variants and baseline are read in the same "
        f"{rounds or ''} interleaved rounds{where}, and a latency is the geometric mean over rounds of the "
        "round's median reading (+- the IQR of all readings). "
        "x latency: variant / baseline, the geometric mean of the per-round ratios "
        f"(= latency / baseline latency; < 1 is faster), with its {confidence:.0f}% Student-t interval; "
        f"verdict: faster / slower (interval excludes 1, estimate beyond +-{margin:.0f}%), same (interval "
        f"inside +-{margin:.0f}%, marked '~'), undecided (neither, marked '?'). "
        "contention: cores' worth of CPU other processes (and the hypervisor's steal) took while timing; "
        f"CONTENDED above {threshold:g} cores: such a timing is not a result."
    )


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _number(value, digits: int = 3) -> str:
    if missing(value):
        return "-"
    value = float(value)
    if value == 0:
        return "0"
    return f"{value:.{digits}g}" if abs(value) < 10 ** digits else f"{value:,.0f}"


def si_count(value) -> str:
    """A count with a K / M / G suffix: 7225344 -> 7.23M."""
    if missing(value):
        return "-"
    value = float(value)
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def _percent(value) -> str:
    return "-" if missing(value) else f"{100 * float(value):.0f}%"


def format_ratio(value) -> str:
    return "-" if missing(value) else f"{float(value):.3g}x"


def _interval(row) -> str:
    low, high = row.get("latency_ratio_low"), row.get("latency_ratio_high")
    return "-" if missing(low) or missing(high) else f"{float(low):.3g}-{float(high):.3g}"


def _truthy(value) -> bool:
    return value is True or str(value).lower() == "true"


def swap_notes(row) -> list[str]:
    """For a network: how many convs the variant replaced, and which it left as they were."""
    replaced = row.get("convs_replaced")
    if missing(replaced) or (not replaced and missing(row.get("convs_kept"))):
        return []
    text = f"replaced {int(replaced)} convs"
    kept = row.get("convs_kept")
    if not missing(kept) and kept:
        text += f", kept {int(kept)} ({row.get('convs_kept_why')})"
    return [text]


# A reference counter that merely cannot run on a module is not a disagreement worth a note per row
# (torchsummary on a block whose submodules have no .weight / .bias); the CSV keeps it.
NOT_A_DISAGREEMENT = ("torchsummary: crashed, no submodule has a .weight or .bias to count",)


def counter_notes(row) -> list[str]:
    """Where the formula or the reference counters disagree with the exact count, and why."""
    reasons = [part for check in (row.get("formula_check"), row.get("count_check"))
               if isinstance(check, str) and check and check != "ok" for part in check.split("; ")]
    return [r for r in reasons if r not in NOT_A_DISAGREEMENT]


VERDICT_MARKS = {"same": "~", "undecided": "?"}
VERDICT_STYLES = {"faster": "green", "slower": "red", "same": "dim", "undecided": "yellow"}


def latency_ratio_text(row) -> tuple[str, str]:
    """The latency ratio as shown, and its rich style: '~' when the same speed within the margin,
    '?' when undecided."""
    ratio = row.get("latency_vs_baseline")
    if missing(ratio):
        return "-", ""
    verdict = row.get("verdict")
    if missing(verdict):
        return format_ratio(ratio), "bold"  # the baseline itself
    return VERDICT_MARKS.get(verdict, "") + format_ratio(ratio), VERDICT_STYLES.get(verdict, "")


def row_warnings(row, calibration: str | None = None) -> list[str]:
    """What makes a timed row less than a result: contention, a roofline share above 100 %."""
    warnings = []
    if _truthy(row.get("contended")):
        warnings.append(f"CONTENDED: other processes took {float(row['contention']):.2f} cores while timing")
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


def console_tables(df: pd.DataFrame, baseline: str, console: Console | None = None,
                   metadata: dict[str, Any] | None = None) -> None:
    """One table per shape (and device): params, MACs, kMAC/px, latency and ratios to the baseline
    with their interval and verdict. Counter disagreements, contention and skipped cases become
    numbered notes under the table."""
    console = console or Console()
    metadata = metadata or {}
    calibration = calibration_text(metadata)
    for (shape, device, dtype), group in df.groupby(["shape", "device", "dtype"], sort=False):
        table = Table(title=f"{shape} | {device} {dtype} | x: variant / {baseline}", title_justify="left")
        for column in ("variant", "params", "MACs", "kMAC/px", "MAC/B", "latency ms", "roof",
                       "x params", "x MACs", "x latency", "CI", "verdict", "note"):
            table.add_column(column, justify="left" if column in ("variant", "verdict", "note") else "right")
        notes: dict[str, list[str]] = {}  # one line per distinct reason, with the rows it applies to

        def mark(reasons: list[str], label: str) -> str:
            for reason in reasons:
                notes.setdefault(reason, []).append(label)
            return ",".join(str(list(notes).index(r) + 1) for r in dict.fromkeys(reasons))

        for row in group.to_dict("records"):
            if row["status"] != "ok":
                number = mark([f"{row['status']}: {row['error']}"], row["label"])
                table.add_row(row["label"], *["-"] * 11, f"[yellow]{row['status']} [{number}][/]")
                continue
            latency = ("-" if missing(row.get("latency_ms"))
                       else f"{row['latency_ms']:.3g}+-{row['latency_iqr_ms']:.2g}"
                       + (" noisy" if _truthy(row.get("noisy")) else ""))
            ratio, style = latency_ratio_text(row)
            checks = row_warnings(row, calibration) + swap_notes(row) + counter_notes(row)
            note = f"[{mark(checks, row['label'])}]" if checks else ""
            verdict = "" if missing(row.get("verdict")) else row["verdict"]
            table.add_row(
                row["label"], si_count(row["params"]), si_count(row["macs"]),
                _number(row["kmac_per_pixel"]), _number(row.get("arithmetic_intensity"), 2), latency,
                _percent(row.get("roofline_fraction")), format_ratio(row.get("params_vs_baseline")),
                format_ratio(row.get("macs_vs_baseline")), f"[{style}]{ratio}[/]" if style else ratio,
                _interval(row), f"[{VERDICT_STYLES.get(verdict, '')}]{verdict}[/]" if verdict else "",
                f"[bold red]CONTENDED {note}[/]" if _truthy(row.get("contended")) else note,
            )
        console.print(table)
        for i, (reason, labels) in enumerate(notes.items(), 1):
            console.print(f"  [{i}] {reason} ({', '.join(labels)})", style="dim", markup=False)
    console.print(conventions(metadata.get("timing")), style="dim")


def timing_summary(df: pd.DataFrame, metadata: dict[str, Any] | None = None) -> list[str]:
    """The lines that end a run: how many timed rows were contended, and how many read above the roofline."""
    if "latency_ms" not in df or df["latency_ms"].isna().all():
        return []
    timed = df[df["latency_ms"].notna()]
    contended = timed[[_truthy(v) for v in timed["contended"]]]
    threshold = float(((metadata or {}).get("timing") or {}).get("contention_threshold", THRESHOLD))
    worst = timed["contention"].max()
    lines = [f"contention: {len(contended)} of {len(timed)} timed rows contended (others took more than "
             f"{threshold:g} cores; the most was {float(worst):.2f} cores)"
             + (": those timings are not results; rerun on a quiet machine" if len(contended) else "")]
    above = timed[timed["roofline_fraction"].fillna(0) > 1]
    if len(above):
        lines.append(f"roofline: {len(above)} rows above 100% of the calibrated peak "
                     f"({calibration_text(metadata or {})}); recalibrate with `convbench env --calibrate`")
    return lines


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
        "Ratio CI low": df["latency_ratio_low"],
        "Ratio CI high": df["latency_ratio_high"],
        "Verdict": ["" if missing(v) else v for v in df["verdict"]],
        "Contention (cores)": df["contention"],
        "Contended": [("yes" if _truthy(v) else "no") if not missing(v) else "" for v in df["contended"]],
        "Status": df["status"],
    })
    return out.apply(lambda column: column.map(_significant) if column.dtype.kind == "f" else column)


def _significant(value, digits: int = 4):
    """``value`` rounded to ``digits`` significant figures (not decimals: 0.0156 stays 0.0156)."""
    if missing(value) or value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


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
               f"torch {metadata.get('torch', '?')}. {conventions(metadata.get('timing'))}")
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
    if metadata.get("stopped"):
        lines.append(f"- **stopped**: {metadata['stopped']}")
    lines += [f"- {line}" for line in timing_summary(df, metadata)]
    lines += ["", conventions(metadata.get("timing")), ""]
    for (shape, device), group in df.groupby(["shape", "device"], sort=False):
        lines += [f"## {shape} ({device})", ""]
        ok = group[group["status"] == "ok"]
        if not ok.empty:
            table = paper_table(ok, baseline).drop(columns=["Shape", "Device", "Status"])
            table[f"Latency / {baseline}"] = [latency_ratio_text(r)[0] for r in ok.to_dict("records")]
            table["Contended"] = ["**CONTENDED**" if _truthy(v) else v for v in table["Contended"]]
            lines += [table.to_markdown(index=False, floatfmt=".3g"), ""]
        for row in group.to_dict("records"):
            if row["status"] != "ok":
                lines.append(f"- {row['label']}: {row['status']}: {row['error']}")
                continue
            checks = row_warnings(row, calibration_text(metadata)) + swap_notes(row) + counter_notes(row)
            if checks:
                lines.append(f"- {row['label']}: " + "; ".join(checks))
        lines.append("")
    return "\n".join(lines)
