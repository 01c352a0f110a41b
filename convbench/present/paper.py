"""Tables for a paper: one per shape (and machine), in Markdown, and what the LaTeX tables
(:mod:`convbench.present.latex`) share with them: the groups, the cells, the machine line, the method.

Each table says in its caption (LaTeX) or the lines under it (Markdown) what was measured on which
machine, in which units, by which counter and with which timing method; a value that does not apply
is an empty cell; every number has ``digits`` significant figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from convbench import backends
from convbench.present.escaping import markdown_text
from convbench.present.formatting import (
    DIGITS,
    VERDICT_MARKS,
    count_unit,
    missing,
    ratio,
    si,
    significant,
    truthy,
    with_spread,
)
from convbench.store.schema import part_for


def latest_per_label(group: pd.DataFrame) -> pd.DataFrame:
    """A table's rows, each variant once: where a label appears more than once (a case measured again
    under other settings, or in another run), the last row; ``attrs["hidden"]`` counts the others."""
    latest = group[~group["label"].duplicated(keep="last")]
    latest.attrs["hidden"] = len(group) - len(latest)
    return latest


def hidden_text(hidden: int) -> str:
    return (f" {hidden} earlier row(s) of the same variants (measured again, or in another run) are not shown: "
            "the CSV has them, and --pool pools repeated runs.") if hidden else ""


def table_groups(df: pd.DataFrame, shape: str | None = None, latest: bool = True) -> list[tuple[tuple, pd.DataFrame]]:
    """The rows of each table: one per (config, machine, shape, device, dtype and runtime), in run order, each
    variant once unless not ``latest`` (:func:`latest_per_label`); only shapes whose label contains
    ``shape`` when given (a ValueError listing them if none does)."""
    df = df.assign(backend=df["backend"].astype(object).fillna("eager"),
                   dtype=df["dtype"].astype(object).fillna("dtype not recorded"))
    several_threads = df["threads"].nunique() > 1
    df = df.assign(thread_axis=df["threads"] if several_threads else 0)
    groups = [((config, machine, shape_, device, dtype + ("" if backends.is_default(backend) else f", {backend}")
                + (f", {threads:g} threads" if several_threads and not missing(threads) else "")),
               group.drop(columns="thread_axis"))
              for (config, machine, shape_, device, dtype, backend, threads), group
              in df.groupby(["config", "machine", "shape", "device", "dtype", "backend", "thread_axis"], sort=False,
                            dropna=False)]
    if latest:
        groups = [(key, latest_per_label(group)) for key, group in groups]
    if shape is not None:
        chosen = [g for g in groups if shape.lower() in str(g[0][2]).lower()]
        if not chosen:
            shapes = ", ".join(dict.fromkeys(f"'{g[0][2]}'" for g in groups))
            raise ValueError(f"--shape {shape!r} matches none of the shapes: {shapes}")
        groups = chosen
    return groups


def _columns(rows: list[dict], baseline: str) -> list[tuple[str, str]]:
    """(key, heading) of the columns these rows have values for."""
    confidence = confidence_percent(rows)
    columns = [("label", "Variant"), ("params", "Params"), ("macs", "MACs"), ("kmac_per_pixel", "kMAC/px"),
               ("latency_ms", "Latency (ms)"), ("macs_vs_baseline", f"MACs / {baseline}"),
               ("latency_vs_baseline", f"Latency / {baseline}"), ("interval", f"{confidence:.0f}% CI"),
               ("roofline_fraction", "Roofline (%)"), ("latency_vs_float32", "Latency / float32"),
               ("quant_sqnr_db", "SQNR (dB)")]
    present = {key for key, _ in columns if any(not missing(r.get(key)) for r in rows)}
    if any(not missing(r.get("latency_ratio_low")) for r in rows):
        present.add("interval")
    return [(key, heading) for key, heading in columns if key == "label" or key in present]


def confidence_percent(rows: list[dict], part: dict | None = None) -> float:
    """The confidence level of the rows' latency intervals, in percent (the run's, else 95)."""
    level = next((r["confidence"] for r in rows if not missing(r.get("confidence"))), None)
    if level is None:
        level = ((part or {}).get("timing") or {}).get("confidence", 0.95)
    return 100 * float(level)


def _cells(row: dict, key: str, digits: int, plus_minus: str) -> tuple[str, list[str]]:
    """A cell's text and the marks after it (verdict, contended, unstable: keys of the marks tables)."""
    if row.get("status") != "ok":
        return (str(row["status"]) if key == "latency_ms" else ""), []
    value = row.get(key)
    if key in ("params", "macs"):
        return si(value, digits), []
    if key == "latency_ms":
        if missing(value):
            return "", []
        return with_spread(value, row.get("latency_iqr_ms"), digits, plus_minus), []
    if key == "latency_vs_baseline":
        text = ratio(value, digits)
        if not text:
            return "", []
        verdict = row.get("verdict")
        marks = [verdict] if not missing(verdict) and verdict in VERDICT_MARKS else []
        marks += [flag for flag in ("contended", "unstable") if truthy(row.get(flag))]
        return text, marks
    if key in ("macs_vs_baseline", "latency_vs_float32"):
        return ratio(value, digits), []
    if key == "interval":
        low, high = row.get("latency_ratio_low"), row.get("latency_ratio_high")
        return ("" if missing(low) or missing(high) else f"{significant(low, digits)}-{significant(high, digits)}"), []
    if key == "roofline_fraction":
        return ("" if missing(value) else significant(100 * float(value), digits)), []
    return significant(value, digits), []


def _marked(cell: tuple[str, list[str]], marks: dict[str, str], render=str) -> str:
    text, keys = cell
    return render(text) + "".join(marks[key] for key in keys)


def machine_line(part: dict[str, Any]) -> str:
    """The machine a table was measured on, in words."""
    device = part.get("device_name") or part.get("cpu_model") or "unknown device"
    threads = part.get("threads")
    pieces = [device] + ([f"{threads} threads"] if threads and str(part.get("device", "cpu")).startswith("cpu")
                         else [])
    pieces += [f"PyTorch {part['torch']}" if part.get("torch") else None,
               f"host {part['host']}" if part.get("host") else None]
    return ", ".join(p for p in pieces if p)


def method_text(part: dict[str, Any], baseline: str, per: str = "image") -> str:
    """Units, counter and timing method, in words (no command lines)."""
    timing = part.get("timing") or {}
    rounds, processes = timing.get("rounds"), int(timing.get("processes") or 1)
    confidence = 100 * float(timing.get("confidence", 0.95))
    spread = f" in {processes} fresh processes" if processes > 1 else ""
    min_span = float(timing.get("min_span") or 0)
    if min_span > 0:
        spread += f" spread over at least {min_span:g} s"
    return (f"Params and MACs per {per} (multiply-accumulates, bias excluded; FLOPs = 2 MACs), counted "
            f"exactly at the operator level and cross-checked against ptflops. kMAC/px: MACs per input pixel "
            f"/ 1000. Latency: batch {part.get('batch', 'as shown')} "
            f"{'training step (forward and backward)' if timing.get('training') else 'forward pass'}, "
            f"{part.get('dtype', 'float32')}, "
            f"geometric mean over {rounds or 'the'} interleaved rounds{spread} of each round's median, "
            f"with the interquartile range of the readings. Latency / {baseline}: geometric mean of per-round "
            f"ratios with its {confidence:.0f}% Student-t interval (below 1 is faster).")


def legend_text(margin: float, baseline: str, contended: bool, unstable: bool = False, pooled: int = 0) -> str:
    text = (f"~: the same speed as {baseline} within +-{100 * margin:.0f}% (interval inside the margin); "
            "?: undecided (the interval is too wide to say); unmarked ratios differ from 1 beyond the margin.")
    if contended:
        text += " !: other processes used the CPU while this row was timed, so it is not a result."
    if unstable:
        text += (" †: the machine changed state while this row was timed (a fixed probe kernel read at two "
                 "levels); the ratio blends both states, and the results files give it per state.")
    if pooled:
        text += (f" Rows measured in several runs are pooled (up to {pooled} runs): the latency is the geometric mean "
                 "across runs and the interval is Student's t over the runs' ratios, the spread between runs.")
    return text


@dataclass
class _Table:
    """What one paper table needs: its part's metadata, baseline, rows and columns, and whether
    any row was contended, and the margin its marks mean."""

    part: dict[str, Any]
    baseline: str
    rows: list[dict]
    columns: list[tuple[str, str]]
    contended: bool
    margin: float
    unstable: bool = False
    pooled: int = 0  # the most runs a row was pooled over

    @classmethod
    def of(cls, group: pd.DataFrame, metadata: dict[str, Any], config, machine) -> "_Table":
        part = part_for(metadata, config, machine)
        baseline = part.get("baseline") or metadata.get("baseline") or "baseline"
        rows = group.to_dict("records")
        pooled = max((int(r["pooled_runs"]) for r in rows if not missing(r.get("pooled_runs"))), default=0)
        return cls(part, baseline, rows, _columns(rows, baseline), any(truthy(r.get("contended")) for r in rows),
                   float((part.get("timing") or {}).get("margin", 0.05)), any(truthy(r.get("unstable")) for r in rows),
                   pooled if pooled > 1 else 0)


MARKDOWN_MARKS = {"same": " \\~", "undecided": " ?", "contended": " !", "unstable": " †"}


def markdown_tables(df: pd.DataFrame, metadata: dict[str, Any], digits: int = DIGITS, shape: str | None = None,
                    level: str = "##") -> str:
    """The same tables in Markdown, each with a machine line and a legend under it; how the
    numbers were obtained follows the last table of each config and machine."""
    out = []
    groups = table_groups(df, shape)
    for i, ((config, machine, shape_label, device, dtype), group) in enumerate(groups):
        table = _Table.of(group, metadata, config, machine)
        part, baseline, rows, columns = table.part, table.baseline, table.rows, table.columns
        contended, margin = table.contended, table.margin
        out += [f"{level} {markdown_text(shape_label)} ({markdown_text(device)}, {markdown_text(dtype)})", ""]
        out.append("| " + " | ".join(markdown_text(h) for _, h in columns) + " |")
        out.append("|" + "|".join(":---" if k == "label" else "---:" for k, _ in columns) + "|")
        for row in rows:
            cells = [markdown_text(row["label"]) if key == "label"
                     else _marked(_cells(row, key, digits, " ± "), MARKDOWN_MARKS, markdown_text)
                     for key, _ in columns]
            out.append("| " + " | ".join(cells) + " |")
        legend = (legend_text(margin, baseline, contended, table.unstable, table.pooled).replace("+-", "±")
                  + hidden_text(group.attrs.get("hidden", 0)))
        out += ["", f"Machine: {markdown_text(machine_line(part))}. {markdown_text(legend)}", ""]
        last_of_part = i + 1 == len(groups) or groups[i + 1][0][:2] != (config, machine)
        if last_of_part:
            out += [markdown_text(method_text({**part, "batch": rows[0].get("batch"), "dtype": dtype}, baseline,
                                              count_unit(rows))), ""]
    return "\n".join(out)


def runtime_groups(df: pd.DataFrame, metadata: dict[str, Any]) -> list[tuple[str, dict, str, list[str], pd.DataFrame]]:
    """For the runtimes tables: per shape and machine, (shape, part, baseline, runtimes, rows); none
    when the rows span fewer than two runtimes."""
    df = df.assign(backend=df["backend"].astype(object).fillna("eager"))
    if df["backend"].nunique() < 2:
        return []
    groups = []
    for (config, machine, shape_label), group in df.groupby(["config", "machine", "shape"], sort=False, dropna=False):
        part = part_for(metadata, config, machine)
        baseline = part.get("baseline") or metadata.get("baseline") or "baseline"
        groups.append((shape_label, part, baseline, list(dict.fromkeys(group["backend"])), group))
    return groups


def runtime_tables(df: pd.DataFrame, metadata: dict[str, Any], digits: int = DIGITS, level: str = "##") -> str:
    """Per shape (and machine), when the rows span several runtimes: variants x runtimes, each cell
    the latency in ms and its ratio to the baseline on the same runtime. Empty otherwise."""
    out = []
    for shape_label, part, baseline, names, group in runtime_groups(df, metadata):
        out += [f"{level} {markdown_text(shape_label)}: latency (ms) and / {markdown_text(baseline)} on each runtime",
                "", "| Variant | " + " | ".join(map(markdown_text, names)) + " |", "|:---|" + "---:|" * len(names)]
        for label, rows in group.groupby("label", sort=False):
            cells = []
            for name in names:
                row = next(iter(rows[rows["backend"] == name].to_dict("records")), None)
                if row is None or row["status"] != "ok" or missing(row.get("latency_ms")):
                    cells.append("" if row is None else markdown_text(row["status"]))
                    continue
                text = _marked(_cells(row, "latency_vs_baseline", digits, ""), MARKDOWN_MARKS, markdown_text)
                cells.append(f"{significant(row['latency_ms'], digits)} \\({text}\\)")
            out.append(f"| {markdown_text(label)} | " + " | ".join(cells) + " |")
        versions = part.get("backends") or {}
        margin = float((part.get("timing") or {}).get("margin", 0.05))
        out += ["", markdown_text(f"Machine: {machine_line(part)}. Runtimes: "
                                  + ", ".join(str(versions.get(name, name)) for name in names) + ". "
                                  + legend_text(margin, baseline, False).replace("+-", "±")), ""]
    return "\n".join(out)
