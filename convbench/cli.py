"""The ``convbench`` command line."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

import convbench


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(convbench.__version__, prog_name="convbench")
def main() -> None:
    """Benchmark convolution variants against plain convolution."""


@main.command("list")
def list_variants() -> None:
    """The registered variants: description, parameters with defaults, paper."""
    table = Table(title="convbench variants", show_lines=True)
    for column in ("variant", "description", "parameters (default)", "paper"):
        table.add_column(column)
    for name in convbench.variant_names():
        spec = convbench.get_variant(name)
        params = "\n".join(
            f"{p.name}={p.default!r}" + (" (choice)" if p.open_choice else "") for p in spec.params
        )
        label = name + "".join(f"\nalias: {a}" for a in spec.aliases)
        description = spec.description + (f"\n{spec.notes}" if spec.notes else "")
        table.add_row(label, description, params or "-", spec.paper)
    Console().print(table)
    click.echo("(choice): the paper leaves this open; the default is convbench's pick.")
