"""The ``convbench`` command line: run, compare, list, show, report, export, merge, plot, env."""

from convbench.cli import compare, env, inspect, report, results, run  # noqa: F401  (each registers its commands)
from convbench.cli.app import main

__all__ = ["main"]
