"""A profile as a console table and as Markdown: per op, its time per call, its share of the
profiled end-to-end time, its MACs, bytes and MACs/byte, then the time no op accounts for, the
profiled time beside the timed one, and the line on what dominates."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from convbench.present.formatting import missing, percent, si, significant
from convbench.profiling import ProfileTable, why

HEADINGS = ("op", "module", "kind", "calls", "µs/call", "share", "MACs", "bytes moved", "MACs/byte")


def _cells(table: ProfileTable) -> list[tuple[str, ...]]:
    def number(value):
        return "-" if value is None else si(value)

    rows = [(row.op, "-" if row.module is None else (row.module or "(model)"), row.kind, str(row.calls),
             significant(row.seconds * 1e6), percent(row.share), number(row.macs), number(row.bytes_moved),
             "-" if row.macs_per_byte is None else significant(row.macs_per_byte)) for row in table.rows]
    rows.append(("outside every op", "", "", "", significant(table.unaccounted_s * 1e6),
                 percent(table.unaccounted_share), "", "", ""))
    return rows


def summary_lines(table: ProfileTable, timed_ms: float | None, timed_how: str | None) -> list[str]:
    """What the table is of: the profiled time and how it was read, the timed one, the join."""
    lines = [f"profiled: {significant(table.end_to_end_s * 1e3)} ms per call, mean of {table.calls} calls after "
             f"{table.warmup} warm-up calls ({table.source})"]
    if timed_ms is not None:
        overhead = table.end_to_end_s * 1e3 / timed_ms if timed_ms else None
        lines.append(f"timed: {significant(timed_ms)} ms per call ({timed_how}); profiled / timed = "
                     f"{significant(overhead) if overhead else '-'}x, the profiler's overhead and the run's noise")
    lines.append(f"ops {percent(table.op_share)} of the profiled time, the runtime's own work "
                 f"{percent(table.runtime_share)}, outside every op "
                 f"{percent(table.unaccounted_share)}")
    if table.unjoined_macs:
        lines.append(f"{table.unjoined_macs:,} of {table.macs:,} MACs on no op: the runtime's multiplying ops do not "
                     "match the counted ones one to one (fused or split)")
    lines.append("MACs and bytes moved per call of the whole batch, counted (aten dispatch), joined to the op that "
                 "ran them; µs/call and share: the profiler's")
    line = why(table)
    if line:
        lines.append(f"why: {line}")
    return lines


def print_profile(table: ProfileTable, title: str, console: Console, timed_ms: float | None = None,
                  timed_how: str | None = None) -> None:
    grid = Table(title=Text(title), title_justify="left")
    for heading in HEADINGS:
        grid.add_column(heading, justify="left" if heading in ("op", "module", "kind") else "right",
                        overflow="fold" if heading == "op" else "ellipsis")
    cells = _cells(table)
    for i, cell in enumerate(cells):
        grid.add_row(*(Text(c) for c in cell), style="bold" if i == len(cells) - 1 else None)
    console.print(grid)
    for line in summary_lines(table, timed_ms, timed_how):
        console.print(line, markup=False, highlight=False)


def markdown(table: ProfileTable, escape) -> list[str]:
    """The table as Markdown lines, every cell through ``escape`` (the results are data)."""
    lines = ["| " + " | ".join(HEADINGS) + " |", "|" + "---|" * len(HEADINGS)]
    lines += ["| " + " | ".join(escape(c) for c in cell) + " |" for cell in _cells(table)]
    return lines


def profile_notes(row) -> list[str]:
    """A profiled row's notes: its profiled time beside its timed one, the shares, and the why."""
    error = row.get("profile_error")
    if isinstance(error, str) and error:
        return [f"not profiled: {error}"]
    profiled = row.get("profiled_latency_ms")
    if missing(profiled):
        return []
    shares = (f"ops {percent(row['profile_op_share'])}, the runtime's own work {percent(row['profile_runtime_share'])}"
              f", outside every op {percent(row['profile_unaccounted_share'])}")
    notes = [f"profiled {significant(profiled)} ms per call (mean of {int(row['profile_calls'])} profiled calls, "
             f"after the timing) against {significant(row['latency_ms'])} ms timed; {shares}"]
    line = row.get("profile_why")
    if isinstance(line, str) and line:
        notes.append(f"why: {line}")
    return notes


def markdown_sections(rows, escape, level: str = "###") -> list[str]:
    """report.md's per-op tables, one per profiled row."""
    lines = []
    for row in rows:
        text = row.get("profile_ops")
        if not isinstance(text, str) or not text:
            continue
        try:
            table = ProfileTable.from_json(text)
        except ValueError as error:
            lines += [escape(f"{row['shape']}: {row['label']} on {row['backend']}: {error}"), ""]
            continue
        if not lines:
            lines += [f"{level} Where the time goes: per op, per call", ""]
        lines += [f"{level}# {escape(row['shape'])}: {escape(row['label'])} on {escape(row['backend'])}", ""]
        lines += markdown(table, escape) + [""]
        timed = None if missing(row.get("latency_ms")) else float(row["latency_ms"])
        lines += [escape(line) for line in summary_lines(table, timed, "the row's session")] + [""]
    return lines
