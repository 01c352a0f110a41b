"""What a finished run prints (tables or JSON, notes, where its files went) and how the command
exits: 130 when stopped, 3 when ``--strict`` refused a timing, 1 when every case failed."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from convbench.cli.common import ContendedExit, InputError, draw_plots, echo_json, new_console
from convbench.present.console import backend_table, console_tables
from convbench.present.report import timing_summary
from convbench.present.verdicts import verdict_lines
from convbench.store.files import OutputError
from convbench.store.schema import frame
from convbench.suite import roofline
from convbench.plan.config import Suite
from convbench.suite.interrupts import GracefulStop
from convbench.suite.recording import Recording, record
from convbench.plan.expand import make_plan
from convbench.timing.allocator import retain_freed_memory


class EveryCaseFailed(click.ClickException):
    """No case of the run could be measured: exit code 1, after the rows are written."""


def warn_about_the_calibration_cache() -> None:
    problem = roofline.cache_problem()
    if problem:
        click.echo(f"warning: {problem}", err=True)


def record_and_report(suites: list[Suite], directory: Path | None, measure_time: bool, as_json: bool,
                       draw: bool = False, verdicts: bool = False, debug: bool = False, **options) -> None:
    """Measure (see :func:`convbench.suite.recording.record`), then print; a stop signal while printing
    is noted (exit code 130), not a traceback."""
    if measure_time:
        warn_about_the_calibration_cache()
        retain_freed_memory()  # before the metadata, which records the allocator setting
    with GracefulStop() as stop:
        try:
            recording = record(suites, directory, measure_time=measure_time, quiet=as_json,
                               warn=lambda message: click.echo(f"warning: {message}", err=True), **options)
        except OutputError as error:
            raise InputError(str(error)) from None
        stop.hold()
        recording.interrupted = recording.interrupted or stop.requested
        if debug:
            print_tracebacks(recording)
        finish(recording, as_json, draw, verdicts)
        if stop.requested:
            sys.exit(130)


def finish(recording: Recording, as_json: bool, draw: bool, verdicts: bool = False) -> None:
    """Print what a run measured (tables or JSON) and where it went; exit as it ended."""
    directory = recording.directory
    if recording.unwritable:
        raise InputError(f"{recording.unwritable}; {len(recording.all_rows)} rows were measured")
    rows = [row for part in recording.parts for row in part.rows]
    if as_json:
        echo_json({"directory": str(directory) if directory else None,
                    "metadata": recording.parts[0].metadata if recording.parts else {},
                    "parts": [part.metadata for part in recording.parts], "rows": rows,
                    **({"verdicts": [line for part in recording.parts
                                     for line in verdict_lines(part.rows, part.suite.baseline.label)]}
                       if verdicts else {})})
    console = None if as_json else new_console()
    for part in recording.parts:
        df = frame(part.rows)
        if console and not df.empty:
            console_tables(df, part.suite.baseline.label, console, part.metadata)
            if verdicts:
                backend_table(df, part.suite.baseline.label, console)
                for line in verdict_lines(part.rows, part.suite.baseline.label):
                    console.print(line, markup=False)
        for line in part_lines(part) + timing_summary(df, part.metadata):
            say(line, console)
    if directory is not None:
        held = (f"; it now holds {len(recording.all_rows)}" if len(recording.all_rows) != len(rows) else "")
        say(f"{'interrupted: ' if recording.interrupted else ''}{len(rows)} rows written to {directory}/ "
             f"(results.jsonl, results.csv, report.md, report.html){held}", console)
    if recording.contended:
        raise ContendedExit(recording.contended)
    if draw and directory is not None and not recording.interrupted:
        df = frame(recording.all_rows)
        metadata = {**recording.parts[-1].metadata, "parts": [p.metadata for p in recording.parts]}
        if df["latency_ms"].notna().any():
            for path in draw_plots(df, metadata, (directory / "latency_vs_macs.png", directory / "roofline.png")):
                click.echo(f"plot: {path}", err=as_json)
    if recording.interrupted:
        sys.exit(130)
    failed = [row for row in rows if row.get("status") == "error"]
    if failed and len(failed) == len(rows):
        raise EveryCaseFailed(f"every case failed ({len(failed)} rows); the first: {failed[0].get('label')} on "
                              f"{failed[0].get('shape')}: {failed[0].get('error')} (--debug prints the tracebacks)")


def print_tracebacks(recording: Recording) -> None:
    """The traceback of every row measured now that failed or was skipped, on stderr."""
    for part in recording.parts:
        for row in part.rows:
            if row.get("traceback"):
                click.echo(f"{row.get('status')}: {row.get('label')} on {row.get('shape')}:\n{row['traceback']}",
                           err=True)


def say(line: str, console: Console | None) -> None:
    """A line wrapped to the console's width, or to stderr beside JSON output."""
    if console:
        console.print(line, markup=False, highlight=False)
    else:
        click.echo(line, err=True)


def part_lines(part) -> list[str]:
    """What a shard or a resumed run left out of a config, if anything."""
    lines = []
    if part.held:
        lines.append(f"{part.suite.name}: {part.held} shape(s) already in the directory, not timed again")
    if part.metadata.get("shard") and not part.sessions and not part.held:
        lines.append(f"{part.suite.name}: shard {part.metadata['shard']} has no shapes of this config "
                     f"(it has {len(make_plan(part.suite).sessions)})")
    return lines


