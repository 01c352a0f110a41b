"""``convbench export``, ``merge`` and ``plot``: finished runs as paper tables, one joined run,
and charts."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from convbench.cli.app import main
from convbench.cli.common import InputError, draw_plots, max_size_option, pool_option
from convbench.present.formatting import DIGITS
from convbench.present.latex import LAYOUTS
from convbench.present.plot import FORMATS as PLOT_FORMATS
from convbench.present.plot import PlotStyle
from convbench.present.report import EXPORT_FORMATS, export
from convbench.present.reports import run_reports
from convbench.store.files import RUN_FILES, OutputError, ResultsError, holds_run, write_atomically
from convbench.store.validation import MAX_BYTES
from convbench.plan.legacy_ids import with_case_ids
from convbench.store.merge import Merged, merge_runs, write_merged


@main.command("export")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="csv", show_default=True)
@click.option("--digits", type=click.IntRange(1, 15), default=DIGITS, show_default=True,
              help="Significant figures of every number in LaTeX and Markdown (CSV and JSON keep full precision).")
@click.option("--shape", metavar="TEXT", help="Only the shapes whose label contains TEXT, e.g. '64->64, k=3'.")
@click.option("--layout", type=click.Choice(LAYOUTS), default="onecolumn", show_default=True,
              help="LaTeX: a table as wide as a one-column page, a table* across two columns, or one column wide.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write here instead of stdout (never over a run's own files).")
@pool_option
@max_size_option
def export_command(results, fmt, digits, shape, layout, output, pool, max_bytes):
    """One or more runs (directories, results.jsonl / .json or results.csv) as a table for a paper:
    LaTeX and Markdown get one table per shape and machine; csv and json every row with its machine."""
    if output:
        refuse_run_file(Path(output), results)
    merged = load_runs(results, max_bytes, pool)
    try:
        text = export(merged.df, merged.metadata, fmt, digits=digits, shape=shape, layout=layout)
    except ValueError as error:
        raise InputError(str(error)) from None
    write_output(output, text)


def write_output(output: str | None, text: str) -> None:
    """``text`` into the file ``output`` (its directory made), or onto stdout when None."""
    if not output:
        click.echo(text, nl=False)
        return
    try:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        write_atomically(Path(output), text)
    except OSError as error:
        raise InputError(f"-o {output}: cannot write ({error.strerror or error})") from None
    click.echo(f"wrote {output}", err=True)


def refuse_run_file(output: Path, inputs) -> None:
    """``-o`` must not replace a run's own file, nor any file being read."""
    target = output.resolve()
    read = {Path(p).resolve() for p in inputs}
    if target in read or (target.name in RUN_FILES and holds_run(target.parent)):
        raise InputError(f"-o {output}: is a run's own {target.name}; write to another file")


def load_runs(paths, max_bytes: int = MAX_BYTES, pool: bool = False) -> Merged:
    """Runs for export / plot / merge: a problem is one line (exit 2), a workaround a warning."""
    try:
        merged = merge_runs(list(paths), warn=lambda message: click.echo(f"warning: {message}", err=True),
                            max_bytes=max_bytes, pool=pool, identify=with_case_ids)
    except ResultsError as error:
        raise InputError(str(error)) from None
    if merged.duplicates:
        click.echo(f"warning: {merged.duplicates} rows measured twice on the same machine; kept the first "
                   "run's (--pool pools them)", err=True)
    if merged.pooled:
        click.echo(f"{merged.pooled} rows of cases measured in several runs pooled into the others", err=True)
    return merged


@main.command("merge")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="The merged run's directory (must not exist yet, or be empty).")
@pool_option
@max_size_option
def merge_command(runs, out, pool, max_bytes):
    """Join RUNS (shards, resumed pieces, other machines) into one run directory. A case measured
    twice on the same machine keeps the first run's row; each row keeps its machine, and no ratio
    is ever taken across machines."""
    merged = load_runs(runs, max_bytes, pool)
    command = ["convbench merge", *map(shlex.quote, [*runs, "-o", out]), *(["--pool"] if pool else [])]
    try:
        directory = write_merged(merged, list(runs), out, lambda df, meta: run_reports(df, meta, " ".join(command)),
                                 max_bytes)
    except OutputError as error:
        raise InputError(str(error)) from None
    machines = merged.machines
    click.echo(f"{len(merged.df)} rows from {len(runs)} runs on {len(machines)} machine(s) "
               f"({', '.join(machines)}) written to {directory}/"
               + (f"; {merged.duplicates} duplicate rows dropped (the same case on the same machine in an "
                  "earlier run)" if merged.duplicates else ""))


@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--out", type=click.Path(), metavar="DIR|FILE",
              help="A directory for both charts [the first run's own], or a .png / .svg / .pdf file: the latency "
                   "chart goes there and the roofline beside it as <stem>-roofline.<ext>.")
@click.option("--format", "fmt", type=click.Choice(list(PLOT_FORMATS)), default="png", show_default=True)
@click.option("--shape", metavar="TEXT", help="Only the shapes whose label contains TEXT (one panel: one figure).")
@click.option("--size", metavar="WxH", callback=lambda ctx, param, value: _inches(value),
              help="Figure size in inches, e.g. 3.3x2.6 for a paper's column [sized to the panels].")
@click.option("--font-size", type=click.FloatRange(4, 30), metavar="PT",
              help="Every text of the figures in points, e.g. 8 [9 pt titles, 8 pt legends].")
@pool_option
@max_size_option
def plot(results, out, fmt, shape, size, font_size, pool, max_bytes):
    """Latency vs MACs (log-log, Pareto front, baseline ringed, IQR bars) and the roofline chart of
    one or more runs; one panel per shape and machine."""
    merged = load_runs(results, max_bytes, pool)
    source = Path(results[0])
    target = Path(out) if out else (source if source.is_dir() else source.parent)
    if target.suffix.lower().lstrip(".") in PLOT_FORMATS:
        fmt = target.suffix.lower().lstrip(".")
        paths = (target, target.with_name(f"{target.stem}-roofline{target.suffix}"))
    else:
        paths = (target / f"latency_vs_macs.{fmt}", target / f"roofline.{fmt}")
    for path in draw_plots(merged.df, merged.metadata, paths, PlotStyle(size, font_size), shape):
        click.echo(str(path))


def _inches(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    width, _, height = text.lower().partition("x")
    try:
        size = (float(width), float(height))
    except ValueError:
        raise InputError(f"--size {text!r}: expected WIDTHxHEIGHT in inches, e.g. 3.3x2.6") from None
    if not all(0.5 <= v <= 50 for v in size):
        raise InputError(f"--size {text!r}: each side must be from 0.5 to 50 inches")
    return size
