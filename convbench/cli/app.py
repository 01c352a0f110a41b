"""The ``convbench`` command group; each command lives in a module of its own beside this one."""

from __future__ import annotations

import click

from convbench.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="convbench")
def main() -> None:
    """Benchmark convolution variants against plain convolution: params, MACs, kMAC/pixel and
    latency, counted exactly and timed with statistics you can trust."""
