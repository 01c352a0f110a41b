"""``convbench compare``: named variants side by side with the baseline, on default shapes, on
``--shape`` / ``--config`` shapes or on whole networks, with a verdict for each."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from convbench.cli.app import main
from convbench.cli.command_line import RecordedCommand, command_line
from convbench.cli.common import (DEFAULT_SHAPE, InputError, load_suite, model_entry, parse_model, parse_shape,
                                  variant_entry)
from convbench.cli.outcome import record_and_report
from convbench.cli.run import check_runnable, run_options, run_overrides
from convbench.plan.config import ConfigError
from convbench.plan.loading import CodePolicy, parse_config

# compare's rounds are spread over 12 s (a run's over 20 s), the shortest span that keeps them out
# of one 10 s window, and over 3 fresh processes, so that the interval covers what differs between
# processes; both chosen by measurement (docs: findings/trust.md).
COMPARE_MIN_SPAN = 12.0
COMPARE_PROCESSES = 3
COMPARE_CONFIG = {"name": "compare", "timing": {"min_span": COMPARE_MIN_SPAN, "processes": COMPARE_PROCESSES}}


@main.command(cls=RecordedCommand)
@click.argument("variants", nargs=-1, required=True)
@click.option("--shape", "shapes", multiple=True, metavar="SPEC", help=f"Shape(s) to compare on [{DEFAULT_SHAPE}].")
@click.option("--config", type=click.Path(dir_okay=False),
              help="Take shapes and timing from this config (not its models or variants).")
@click.option("--baseline", default=None, help="Baseline variant [conv, or the config's].")
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="A whole network instead of a shape: resnet18, resnet50, oct_resnet50, mobilenetv3_small, "
                   "or package.module:callable / file.py:callable.")
@click.option("--input", "model_input", metavar="C,H,W", help="The network's input per image [3,224,224].")
@click.option("--out", type=click.Path(), metavar="DIR",
              help="Also save the rows as a run directory (results.jsonl, results.csv, report.md, report.html).")
@click.option("--training", is_flag=True,
              help="Time training steps (forward and backward, split) and count their backward (timing.training).")
@run_options
def compare(variants, shapes, config, baseline, models, model_input, out, training, device, backend_names, dtypes,
            quick, no_timing, strict, processes, threads, max_cases, as_json, trust_code, debug):
    """The named VARIANTS side by side with the baseline: which is cheaper on paper, which is
    faster here, by how much, and whether the difference is significant. A variant takes
    parameters as NAME:KEY=VALUE,KEY=VALUE, e.g. octave:alpha_in=0.25,alpha_out=0.25."""
    overrides = run_overrides(device, quick, strict, processes, backend_names, threads, dtypes, training)
    overrides = overrides.set(("variants",), [variant_entry(name) for name in variants], "VARIANTS")
    if baseline:
        overrides = overrides.set(("baseline",), variant_entry(baseline), "--baseline")
    if shapes or not (config or models):
        entries = [dataclasses.asdict(parse_shape(s)) for s in shapes or [DEFAULT_SHAPE]]
        overrides = overrides.set(("shapes",), entries, "--shape")
    if config:
        suite = load_suite(config, max_cases, trust_code, shapes_and_timing_only=True, overrides=overrides)
        if models:
            suite = dataclasses.replace(suite, models=[parse_model(name, model_input) for name in models])
    else:
        if models:
            overrides = overrides.set(("models",), [model_entry(name, model_input) for name in models], "--model")
        try:  # the networks are named on the command line: that is consent to import them
            suite = parse_config(json.dumps(COMPARE_CONFIG), source="convbench compare", max_cases=max_cases,
                                 code=CodePolicy(trusted=True, root="."), overrides=overrides)
        except ConfigError as error:
            raise InputError(str(error)) from None
    check_runnable(suite)
    record_and_report([suite], Path(out) if out else None, not no_timing, as_json, verdicts=True,
                      command=command_line(), debug=debug)
