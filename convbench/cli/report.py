"""``convbench report``: the report of one or more finished runs, as Markdown or as the offline
HTML page a run writes beside its results."""

from __future__ import annotations

from pathlib import Path

import click

from convbench.cli.app import main
from convbench.cli.command_line import RecordedCommand, command_line
from convbench.cli.common import max_size_option, pool_option
from convbench.cli.results import load_runs, refuse_run_file, write_output
from convbench.present.html_report import html_report
from convbench.present.report import markdown_report


@main.command("report", cls=RecordedCommand)
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--html", "as_html", is_flag=True,
              help="One self-contained HTML file (sortable, filterable tables; latency-vs-MACs and roofline "
                   "charts with hover details) that opens offline [Markdown].")
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write here instead of stdout (never over a run's own files).")
@pool_option
@max_size_option
def report(results, as_html, output, pool, max_bytes):
    """The report of one or more runs (directories, results.jsonl / .json or results.csv): every
    row with its notes, each machine's versions and settings, and how each number was obtained."""
    if output:
        refuse_run_file(Path(output), results)
    merged = load_runs(results, max_bytes, pool)
    make = html_report if as_html else markdown_report
    write_output(output, make(merged.df, merged.metadata, command_line()))
