"""``convbench compare``: named variants side by side with the baseline, on default shapes, on
``--shape`` / ``--config`` shapes or on whole networks, with a verdict for each."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from convbench.cli.app import main
from convbench.cli.common import DEFAULT_SHAPE, load_suite, parse_model, parse_shape, variant_request
from convbench.cli.outcome import record_and_report
from convbench.cli.run import apply_run_options, run_options
from convbench.suite.config import Suite, SuiteTiming

# compare's rounds are spread over 12 s (a run's over 20 s), the shortest span that keeps them out
# of one 10 s window, and over 3 fresh processes, so that the interval covers what differs between
# processes; both chosen by measurement (README: "How far to trust them").
COMPARE_MIN_SPAN = 12.0
COMPARE_PROCESSES = 3


@main.command()
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
              help="Also save the rows as a run directory (results.jsonl, results.csv, report.md).")
@click.option("--training", is_flag=True,
              help="Time training steps (forward and backward, split) and count their backward (timing.training).")
@run_options
def compare(variants, shapes, config, baseline, models, model_input, out, training, device, backend_names, dtypes,
            quick, no_timing, strict, processes, threads, max_cases, as_json, trust_code, debug):
    """The named VARIANTS side by side with the baseline: which is cheaper on paper, which is
    faster here, by how much, and whether the difference is significant. A variant takes
    parameters as NAME:KEY=VALUE,KEY=VALUE, e.g. octave:alpha_in=0.25,alpha_out=0.25."""
    if config:
        suite = load_suite(config, max_cases, trust_code, shapes_and_timing_only=True)
        suite.variants = [variant_request(name) for name in variants]
        if baseline:
            suite.baseline = variant_request(baseline)
    else:
        suite = Suite(name="compare", baseline=variant_request(baseline or "conv"), devices=["cpu"],
                      dtype="float32", memory_format="contiguous",
                      timing=SuiteTiming(min_span=COMPARE_MIN_SPAN, processes=COMPARE_PROCESSES),
                      shapes=[], variants=[variant_request(name) for name in variants], source="convbench compare")
    if models:
        suite.models = [parse_model(name, model_input) for name in models]
    if shapes or not (config or models):
        suite.shapes = [parse_shape(s) for s in (shapes or [DEFAULT_SHAPE])]
    elif models and not config:
        suite.shapes = []
    if training:
        suite.timing.training = True
    apply_run_options(suite, device, quick, strict, processes, backend_names, threads, dtypes)
    options = [*(f"--backend {name}" for name in backend_names), *([f"--dtype {','.join(dtypes)}"] if dtypes else []), *(f"--shape {s}" for s in shapes), *(f"--model {m}" for m in models),
               *([f"--input {model_input}"] if model_input else []), *([f"--config {config}"] if config else []),
               *([f"--baseline {baseline}"] if baseline else []), *([f"--device {device}"] if device else []),
               *(["--quick"] if quick else []), *(["--no-timing"] if no_timing else []),
               *(["--training"] if training else []),
               *([f"--processes {processes}"] if processes else []),
               *([f"--threads {','.join(map(str, threads))}"] if threads else []), f"--out {out}"]
    command = " ".join(["convbench compare", *map(shlex.quote, [*variants, *" ".join(options).split()])])
    record_and_report([suite], Path(out) if out else None, not no_timing, as_json, verdicts=True, command=command, debug=debug)
