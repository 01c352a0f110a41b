"""LaTeX tables for a paper: one booktabs table per shape (and machine), and a runtimes table when the
rows span several runtimes.

Each table fits its width: ``onecolumn`` (a ``table`` as wide as ``\\textwidth`` of a one-column
article with 1 in margins), ``twocolumn`` (the same columns in a ``table*`` across both columns) or
``narrow`` (a ``table`` one column wide: the variant and its two ratios). The caption names the
shape, the machine and the ratio's meaning in at most three lines; how the numbers were obtained
and what the marks mean follow the table in a note. Long variant labels wrap within their column.
Every value is escaped (:mod:`convbench.present.escaping`); only booktabs is needed.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from convbench import backends
from convbench.present.escaping import latex_text
from convbench.present.formatting import DIGITS, count_unit, missing, significant
from convbench.present.paper import (_Table, _cells, confidence_percent, hidden_text, legend_text, machine_line,
                                     method_text, runtime_groups, table_groups)

LAYOUTS = ("onecolumn", "twocolumn", "narrow")
MARKS = {"same": r"\sim", "undecided": "?", "contended": "!", "unstable": r"\dagger"}
LABEL_CHARACTERS = 24  # a longer label wraps in a column of this many characters' width


def _marks(keys: list[str]) -> str:
    """Every mark of a cell in one superscript, so no combination sets two superscripts in a row."""
    return f"$^{{{' '.join(MARKS[key] for key in keys)}}}$" if keys else ""


def _number(text: str) -> str:
    """A number cell: an interval's en dash, a ratio's x and an IQR's +- set as math."""
    number = r"[0-9.,]+(?:e[+-]?[0-9]+)?"
    interval = re.fullmatch(f"({number})-({number})", text)
    if interval:
        return f"{interval[1]}--{interval[2]}"
    if re.fullmatch(f"{number}x", text):
        return text[:-1] + r"$\times$"
    spread = re.fullmatch(f"({number})\\+-({number})", text)
    if spread:
        return f"{spread[1]}$\\pm${spread[2]}"
    return latex_text(text)


def _columns(table: _Table, layout: str) -> list[tuple[str, str, str]]:
    """(key, group heading, heading) of the columns a paper shows at this layout, among those the
    rows have values for."""
    confidence = confidence_percent(table.rows, table.part)
    keys = {key for key, _ in table.columns}
    if layout == "narrow":
        wanted = [("macs_vs_baseline", "ratio", "MACs"), ("latency_vs_baseline", "ratio", "Latency")]
    else:
        wanted = [("params", "", "Params"), ("macs", "", "MACs"), ("latency_ms", "", "Latency (ms)"),
                  ("macs_vs_baseline", "ratio", "MACs"), ("latency_vs_baseline", "ratio", "Latency"),
                  ("interval", "ratio", f"{confidence:.0f}\\% CI")]
    return [column for column in wanted if column[0] in keys]


def _wrapped_label(label: str, column: str) -> str:
    """A label for a column: in a wrapping column it breaks at spaces, and after _ ( , = where a
    word is too long for it, never inside a word with a hyphen."""
    text = latex_text(label, typeset=False)
    if column == "l":
        return text
    for mark in (r"\_", "(", ",", "="):
        text = text.replace(mark, mark + r"\allowbreak{}")
    return r"\raggedright\hyphenpenalty=10000 " + text


def _label_column(rows: list[dict], layout: str) -> str:
    longest = max((len(str(row["label"])) for row in rows), default=0)
    if longest <= LABEL_CHARACTERS:
        return "l"
    return r"p{0.27\linewidth}"


def latex_tables(df: pd.DataFrame, metadata: dict[str, Any], digits: int = DIGITS, shape: str | None = None,
                 layout: str = "onecolumn") -> str:
    """One booktabs table per shape, sized for ``layout`` (see the module's docstring)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} must be one of {', '.join(LAYOUTS)}")
    environment = "table*" if layout == "twocolumn" else "table"
    out = []
    for n, ((config, machine, shape_label, device, dtype), group) in enumerate(table_groups(df, shape), 1):
        table = _Table.of(group, metadata, config, machine)
        columns = _columns(table, layout)
        label_column = _label_column(table.rows, layout)
        ratios = [c for c in columns if c[1] == "ratio"]
        plain = [c for c in columns if c[1] != "ratio"]
        caption = (f"{latex_text(shape_label)} on {latex_text(machine_line(table.part))} "
                   f"({latex_text(device)}, {latex_text(dtype)}). Ratios: variant / {latex_text(table.baseline)} "
                   "(below 1: fewer MACs, faster).")
        out += [rf"\begin{{{environment}}}[t]", r"\centering", r"\footnotesize" if layout == "narrow" else r"\small",
                r"\setlength{\tabcolsep}{4pt}", rf"\caption{{{caption}}}",
                r"\label{tab:" + re.sub(r"[^A-Za-z0-9]+", "-", str(config)).strip("-") + f"-{n}" + "}",
                r"\begin{tabular}{@{}" + label_column + "r" * len(columns) + "@{}}", r"\toprule"]
        if ratios:
            first = 2 + len(plain)
            heading = rf"\multicolumn{{{len(ratios)}}}{{c}}{{variant / {latex_text(table.baseline)}}}"
            out += [" & " * (first - 1) + heading + r" \\", rf"\cmidrule(l){{{first}-{first + len(ratios) - 1}}}"]
        out += ["Variant & " + " & ".join(heading if "\\" in heading else latex_text(heading)
                                          for _, _, heading in columns) + r" \\", r"\midrule"]
        for row in table.rows:
            cells = [_wrapped_label(row["label"], label_column)]
            for key, _, _ in columns:
                text, keys = _cells(row, key, digits, "+-")
                cells.append(_number(text) + _marks(keys) if row.get("status") == "ok" else latex_text(text))
            out.append(" & ".join(cells) + r" \\")
        part = {**table.part, 'batch': table.rows[0].get('batch'), 'dtype': dtype}
        note = (f"{method_text(part, table.baseline, count_unit(table.rows))} "
                f"{legend_text(table.margin, table.baseline, table.contended, table.unstable, table.pooled)}"
                f"{hidden_text(group.attrs.get('hidden', 0))}")
        out += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip",
                r"{\footnotesize\raggedright " + _legend_marks(latex_text(note)) + r"\par}",
                rf"\end{{{environment}}}", ""]
    return "\n".join(out)


LEGEND_MARKS = {"~:": r"$^{\sim}$:", "?:": r"$^{?}$:", "!:": r"$^{!}$:", "\u2020:": r"$^{\dagger}$:"}


def _legend_marks(text: str) -> str:
    """The legend (escaped) with its mark characters set as the table sets them."""
    for plain, mark in LEGEND_MARKS.items():
        text = text.replace(latex_text(plain), mark)
    return text


def latex_runtime_tables(df: pd.DataFrame, metadata: dict[str, Any], digits: int = DIGITS,
                         layout: str = "onecolumn") -> str:
    """Per shape (and machine), when the rows span several runtimes: variants x runtimes, each cell the
    latency in ms and the ratio to the baseline on the same runtime (``narrow``: the ratio alone).
    Empty otherwise."""
    environment = "table*" if layout == "twocolumn" else "table"
    narrow = layout == "narrow"
    out = []
    for shape_label, part, baseline, names, group in runtime_groups(df, metadata):
        versions = part.get("backends") or {}
        what = "" if narrow else "latency (ms) and, in brackets, "
        caption = (f"{latex_text(shape_label)} on {latex_text(machine_line(part))}: {what}"
                   f"variant / {latex_text(baseline)} on the same runtime.")
        label_column = _label_column(group.to_dict("records"), layout)
        headings = [backends.short_name(name) if narrow else name for name in names]
        out += [rf"\begin{{{environment}}}[t]", r"\centering", r"\footnotesize" if narrow else r"\small",
                r"\setlength{\tabcolsep}{3pt}" if narrow else r"\setlength{\tabcolsep}{4pt}", rf"\caption{{{caption}}}",
                r"\begin{tabular}{@{}" + label_column + "r" * len(names) + "@{}}", r"\toprule",
                "Variant & " + " & ".join(latex_text(name) for name in headings) + r" \\", r"\midrule"]
        for label, rows in group.groupby("label", sort=False):
            cells = [_wrapped_label(label, label_column)]
            for name in names:
                row = next(iter(rows[rows["backend"] == name].to_dict("records")), None)
                if row is None or row["status"] != "ok" or missing(row.get("latency_ms")):
                    cells.append("" if row is None else latex_text(row["status"]))
                    continue
                text, keys = _cells(row, "latency_vs_baseline", digits, "")
                marked = _number(text) + _marks(keys)
                cells.append(marked if narrow else f"{significant(row['latency_ms'], digits)} ({marked})")
            out.append(" & ".join(cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip",
                r"{\footnotesize\raggedright Runtimes: "
                + latex_text(", ".join(str(versions.get(n, n)) for n in names)) + r".\par}",
                rf"\end{{{environment}}}", ""]
    return "\n".join(out)
