"""The ``convbench`` command line: run, compare, list, show, export, env."""

from __future__ import annotations

import dataclasses
import datetime
import json
import shlex
import sys
from pathlib import Path

import click
import torch
import yaml
from rich.console import Console
from rich.table import Table

import convbench
from convbench import backends, roofline
from convbench.backends import BACKENDS
from convbench.allocator import retain_freed_memory
from convbench.config import (MAX_CASES, TIMING_DEFAULTS, ConfigError, ModelWorkload, Shape, Suite, VariantRequest,
                              load_config, parse_config)
from convbench.metadata import library_versions, run_metadata
from convbench.plot import FORMATS as PLOT_FORMATS
from convbench.contention import ContendedError
from convbench.console_tables import backend_table, console_tables
from convbench.numbers import DIGITS
from convbench.report import EXPORT_FORMATS, export, format_ratio, markdown_report, missing, si_count, timing_summary
from convbench.stats import RatioEstimate
from convbench.merge import Merged, merge_runs, write_merged
from convbench.interrupts import GracefulStop
from convbench.recording import Recording, record
from convbench.results import OutputError, ResultsError, frame, run_directory_name, write_atomically
from convbench.sharding import parse_shard, sessions
from convbench.timing import DTYPES

QUICK_TIMING = {"min_time": 0.05, "rounds": 5, "warmup_time": 0.01, "processes": 1}
DEFAULT_SHAPE = "in=64,out=64,k=3,size=56"
SHAPE_ALIASES = {"in": "in_channels", "out": "out_channels", "k": "kernel_size", "s": "stride",
                 "h": "height", "w": "width", "n": "batch"}


class InputError(click.ClickException):
    """Bad input: one line on stderr, exit code 2, no traceback."""

    exit_code = 2


def _console() -> Console:
    """The terminal's width; piped, $COLUMNS (80 when unset)."""
    return Console(highlight=False)


def _echo_json(data) -> None:
    click.echo(json.dumps(data, indent=1, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(convbench.__version__, prog_name="convbench")
def main() -> None:
    """Benchmark convolution variants against plain convolution: params, MACs, kMAC/pixel and
    latency, counted exactly and timed with statistics you can trust."""


def _run_options(function):
    for option in reversed([
        click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), help="Override the devices."),
        click.option("--backend", "backend_names", multiple=True, type=click.Choice(BACKENDS), metavar="NAME",
                     help=f"Time on this runtime (repeat for several): {', '.join(BACKENDS)} [the config's, or eager]."),
        click.option("--quick", is_flag=True, help="Short timing: a few seconds per shape, in this process."),
        click.option("--no-timing", is_flag=True, help="Count only; do not time."),
        click.option("--strict", is_flag=True,
                     help="Exit non-zero (3) if a timing was contended (timing.on_contention: fail)."),
        click.option("--processes", type=click.IntRange(min=1), metavar="N",
                     help="Spread each shape's rounds over N fresh worker processes (timing.processes)."),
        click.option("--max-cases", type=click.IntRange(min=1), default=MAX_CASES, show_default=True, metavar="N",
                     help="Refuse a config that queues more cases than this."),
        click.option("--json", "as_json", is_flag=True, help="Print rows as JSON instead of tables."),
    ]):
        function = option(function)
    return function


def _warn_about_the_calibration_cache() -> None:
    problem = roofline.cache_problem()
    if problem:
        click.echo(f"warning: {problem}", err=True)


def _apply_run_options(suite: Suite, device: str | None, quick: bool, strict: bool = False,
                       processes: int | None = None, backend_names: tuple[str, ...] = ()) -> None:
    if device:
        suite.devices = [device]
    if backend_names:
        suite.backends = list(dict.fromkeys(backend_names))
    if suite.timing["training"] and suite.backends != ["eager"]:
        raise InputError(f"{suite.source}: runtimes other than eager time inference only; drop --backend or "
                         "timing.training")
    for name in suite.backends:
        try:
            backends.require(name)
        except backends.BackendUnavailable as error:
            raise InputError(str(error)) from None
    if quick:
        suite.timing.update(QUICK_TIMING)
    if strict:
        suite.timing["on_contention"] = "fail"
    if processes:
        suite.timing["processes"] = processes
    if "cuda" in suite.devices and not torch.cuda.is_available():
        raise InputError(f"{suite.source}: device cuda requested, but torch {torch.__version__} sees no CUDA "
                         "GPU; use --device cpu, or auto to take a GPU only where there is one")


class ContendedExit(click.ClickException):
    """A timing was contended under ``on_contention: fail`` (``--strict``): exit code 3."""

    exit_code = 3


@main.command()
@click.argument("configs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--only", multiple=True, metavar="VARIANT", help="Run only these variants (repeat or comma-separate).")
@click.option("--out", type=click.Path(), metavar="DIR",
              help="The run's directory, for every config given [results/<names>-<timestamp>].")
@click.option("--shard", metavar="K/N", help="Run shard K of N: every Nth shape (session), from the Kth; e.g. "
                                             "--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT.")
@click.option("--resume", type=click.Path(), metavar="DIR",
              help="Add to DIR only the cases it lacks (after an interruption, or a config grown since); "
                   "starts DIR if it holds no results yet.")
@click.option("--plot", "draw", is_flag=True, help="Also draw latency_vs_macs.png and roofline.png (needs matplotlib).")
@_run_options
def run(configs, only, out, shard, resume, draw, device, backend_names, quick, no_timing, strict, processes, max_cases,
        as_json):
    """Run every variant in each CONFIG on its shapes; write results.csv, results.json and
    report.md into one directory, and print one table per shape."""
    suites = [_load(path, max_cases) for path in configs]
    wanted = [name for item in only for name in item.split(",") if name]
    for suite in suites:
        _apply_run_options(suite, device, quick, strict, processes, backend_names)
        if wanted:
            suite.variants = _select(suite, wanted)
    share = _shard(shard)
    if resume and out and Path(out).resolve() != Path(resume).resolve():
        raise InputError(f"--resume {resume} writes into {resume}; drop --out {out}, or make it the same directory")
    if resume and Path(resume).exists() and not Path(resume).is_dir():
        raise InputError(f"--resume {resume}: is a file, not a run directory")
    starting = bool(resume) and not any((Path(resume) / name).exists() for name in ("results.json", "results.csv"))
    if starting:  # the first attempt of a job that may be requeued: nothing to resume yet
        click.echo(f"--resume {resume}: no results there yet; starting the run in it", err=True)
    flags = [*(f"--only {name}" for name in wanted), *([f"--device {device}"] if device else []),
             *(f"--backend {name}" for name in backend_names),
             *(["--quick"] if quick else []), *(["--no-timing"] if no_timing else []),
             *(["--strict"] if strict else []), *([f"--processes {processes}"] if processes else []),
             *([f"--shard {share.label}"] if share else []), *([f"--resume {shlex.quote(resume)}"] if resume else []),
             *(["--plot"] if draw else []), *([f"--out {shlex.quote(out)}"] if out else [])]
    command = " ".join(["convbench run", *map(shlex.quote, configs), *flags])
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    directory = Path(resume or out or Path("results") / run_directory_name(
        "+".join(dict.fromkeys(s.name for s in suites)) + (f"-shard{share.index}of{share.count}" if share else ""),
        stamp))
    _record_and_report(suites, directory, not no_timing, as_json, draw=draw and not no_timing, shard=share,
                       resume=bool(resume) and not starting, command=command)


def _shard(text: str | None):
    if text is None:
        return None
    try:
        return parse_shard(text)
    except ValueError as error:
        raise InputError(str(error)) from None


def _record_and_report(suites: list[Suite], directory: Path | None, measure_time: bool, as_json: bool,
                       draw: bool = False, verdicts: bool = False, **options) -> None:
    """Measure (see :func:`convbench.recording.record`), then print; a stop signal while printing
    is noted (exit code 130), not a traceback."""
    if measure_time:
        _warn_about_the_calibration_cache()
        retain_freed_memory()  # before the metadata, which records the allocator setting
    with GracefulStop() as stop:
        try:
            recording = record(suites, directory, measure_time=measure_time, quiet=as_json, **options)
        except OutputError as error:
            raise InputError(str(error)) from None
        stop.hold()
        recording.interrupted = recording.interrupted or stop.requested
        _finish(recording, as_json, draw, verdicts)
        if stop.requested:
            sys.exit(130)


def _finish(recording: Recording, as_json: bool, draw: bool, verdicts: bool = False) -> None:
    """Print what a run measured (tables or JSON) and where it went; exit as it ended."""
    directory = recording.directory
    if recording.unwritable:
        raise InputError(f"{recording.unwritable}; {len(recording.all_rows)} rows were measured")
    rows = [row for part in recording.parts for row in part.rows]
    if as_json:
        _echo_json({"directory": str(directory) if directory else None,
                    "metadata": recording.parts[0].metadata if recording.parts else {},
                    "parts": [part.metadata for part in recording.parts], "rows": rows,
                    **({"verdicts": [line for part in recording.parts for line in _verdicts(part.rows, part.suite)]}
                       if verdicts else {})})
    console = None if as_json else _console()
    for part in recording.parts:
        df = frame(part.rows)
        if console and not df.empty:
            console_tables(df, part.suite.baseline.label, console, part.metadata)
            if verdicts:
                backend_table(df, part.suite.baseline.label, console)
                for line in _verdicts(part.rows, part.suite):
                    console.print(line, markup=False)
        for line in _part_lines(part) + timing_summary(df, part.metadata):
            _say(line, console)
    if directory is not None:
        held = (f"; it now holds {len(recording.all_rows)}" if len(recording.all_rows) != len(rows) else "")
        _say(f"{'interrupted: ' if recording.interrupted else ''}{len(rows)} rows written to {directory}/ "
             f"(results.csv, results.json, report.md){held}", console)
    if recording.contended:
        raise ContendedExit(f"timing contended (--strict / on_contention: fail): {recording.contended}")
    if draw and directory is not None and not recording.interrupted:
        df = frame(recording.all_rows)
        metadata = {**recording.parts[-1].metadata, "parts": [p.metadata for p in recording.parts]}
        if df["latency_ms"].notna().any():
            for path in _plot(df, metadata, (directory / "latency_vs_macs.png", directory / "roofline.png")):
                click.echo(f"plot: {path}", err=as_json)
    if recording.interrupted:
        sys.exit(130)


def _say(line: str, console: Console | None) -> None:
    """A line wrapped to the console's width, or to stderr beside JSON output."""
    if console:
        console.print(line, markup=False, highlight=False)
    else:
        click.echo(line, err=True)


def _part_lines(part) -> list[str]:
    """What a shard or a resumed run left out of a config, if anything."""
    lines = []
    if part.held:
        lines.append(f"{part.suite.name}: {part.held} shape(s) already in the directory, not timed again")
    if part.metadata.get("shard") and not part.sessions and not part.held:
        lines.append(f"{part.suite.name}: shard {part.metadata['shard']} has no shapes of this config "
                     f"(it has {len(sessions(part.suite))})")
    return lines


def _load(path: str, max_cases: int = MAX_CASES) -> Suite:
    try:
        return load_config(path, max_cases)
    except ConfigError as error:
        raise InputError(str(error)) from None


def _select(suite: Suite, wanted: list[str]) -> list[VariantRequest]:
    for name in wanted:
        try:
            convbench.get_variant(name)
        except ValueError as error:
            raise InputError(f"--only: {error}") from None
    names = {convbench.get_variant(n).name for n in wanted}
    chosen = [v for v in suite.variants if v.name in names]
    if not chosen:
        raise InputError(f"--only: none of {', '.join(wanted)} is in {suite.source} "
                         f"(it has: {', '.join(v.name for v in suite.variants)})")
    return chosen


def parse_shape(text: str) -> Shape:
    """``in=64,out=64,k=3,size=56`` (also stride / s, batch / n, height / h, width / w)."""
    values = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = SHAPE_ALIASES.get(key.strip(), key.strip())
        if not sep or not value.strip().isdigit():
            raise InputError(f"--shape {text!r}: expected key=positive integer pairs such as {DEFAULT_SHAPE}")
        values[key] = int(value)
    source = "{" + ", ".join(f"{k}: {v}" for k, v in values.items()) + "}"
    try:
        return parse_config(f"shapes: [{source}]\nvariants: [conv]", source=f"--shape {text}").shapes[0]
    except ConfigError as error:
        raise InputError(str(error)) from None


def parse_model(name: str, model_input: str | None = None) -> ModelWorkload:
    """A ``--model`` (and ``--input C,H,W``) as a config's models entry, validated the same way."""
    entry: dict = {"name": name}
    if model_input:
        parts = model_input.split(",")
        if not all(p.strip().isdigit() for p in parts):
            raise InputError(f"--input {model_input!r}: expected positive integers C,H,W such as 3,224,224")
        entry["input"] = [int(p) for p in parts]
    try:
        return parse_config(f"models: [{json.dumps(entry)}]\nvariants: [conv]", source=f"--model {name}").models[0]
    except ConfigError as error:
        raise InputError(str(error)) from None


@main.command()
@click.argument("variants", nargs=-1, required=True)
@click.option("--shape", "shapes", multiple=True, metavar="SPEC", help=f"Shape(s) to compare on [{DEFAULT_SHAPE}].")
@click.option("--config", type=click.Path(dir_okay=False), help="Take shapes and timing from this config.")
@click.option("--baseline", default=None, help="Baseline variant [conv, or the config's].")
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="A whole network instead of a shape: resnet18, resnet50, oct_resnet50, mobilenetv3_small, "
                   "or package.module:callable / file.py:callable.")
@click.option("--input", "model_input", metavar="C,H,W", help="The network's input per image [3,224,224].")
@click.option("--out", type=click.Path(), metavar="DIR",
              help="Also save the rows as a run directory (results.csv, results.json, report.md).")
@_run_options
def compare(variants, shapes, config, baseline, models, model_input, out, device, backend_names, quick, no_timing,
            strict, processes, max_cases, as_json):
    """The named VARIANTS side by side with the baseline: which is cheaper on paper, which is
    faster here, by how much, and whether the difference is significant. A variant takes
    parameters as NAME:KEY=VALUE,KEY=VALUE, e.g. octave:alpha_in=0.25,alpha_out=0.25."""
    if config:
        suite = _load(config, max_cases)
        suite.variants = [_request(name) for name in variants]
        if baseline:
            suite.baseline = _request(baseline)
    else:
        suite = Suite(name="compare", baseline=_request(baseline or "conv"), devices=["cpu"],
                      dtype="float32", memory_format="contiguous",
                      timing=dict(TIMING_DEFAULTS),
                      shapes=[], variants=[_request(name) for name in variants], source="convbench compare")
    if models:
        suite.models = [parse_model(name, model_input) for name in models]
    if shapes or not (config or models):
        suite.shapes = [parse_shape(s) for s in (shapes or [DEFAULT_SHAPE])]
    elif models and not config:
        suite.shapes = []
    _apply_run_options(suite, device, quick, strict, processes, backend_names)
    options = [*(f"--backend {name}" for name in backend_names), *(f"--shape {s}" for s in shapes), *(f"--model {m}" for m in models),
               *([f"--input {model_input}"] if model_input else []), *([f"--config {config}"] if config else []),
               *([f"--baseline {baseline}"] if baseline else []), *([f"--device {device}"] if device else []),
               *(["--quick"] if quick else []), *(["--no-timing"] if no_timing else []),
               *([f"--processes {processes}"] if processes else []), f"--out {out}"]
    command = " ".join(["convbench compare", *map(shlex.quote, [*variants, *" ".join(options).split()])])
    _record_and_report([suite], Path(out) if out else None, not no_timing, as_json, verdicts=True, command=command)


def _request(text: str) -> VariantRequest:
    """``name`` or ``name:key=value,key=value``, e.g. ``octave:alpha_in=0.25,alpha_out=0.25``."""
    name, _, rest = text.partition(":")
    params = _parse_params([item for item in rest.split(",") if item]) if rest else {}
    try:
        spec = convbench.get_variant(name)
        resolved = spec.resolve_params(params)
    except ValueError as error:
        raise InputError(str(error)) from None
    return VariantRequest(spec.name, tuple((k, resolved[k]) for k in params))


def _verdicts(rows: list[dict], suite: Suite) -> list[str]:
    """Per shape: the cheapest on paper, the fastest here, and each variant's time against the baseline."""
    base = suite.baseline.label
    lines = []
    for shape, backend in dict.fromkeys((r["shape"], r.get("backend", "eager")) for r in rows):
        here = [r for r in rows if r["shape"] == shape and r.get("backend", "eager") == backend]
        ok = [r for r in here if r["status"] == "ok"]
        variants = [r for r in ok if r["label"] != base]
        lines.append(f"{shape}{'' if backend == 'eager' else f' on {backend}'}:")
        lines += [f"  {r['label']}: {r['status']} ({r['error']})" for r in here if r["status"] != "ok"]
        if not variants:
            continue
        cheapest = min(ok, key=lambda r: r["macs"])
        lines.append(f"  cheapest on paper: {cheapest['label']} with {si_count(cheapest['macs'])} MACs per image"
                     + (f" ({format_ratio(cheapest['macs_vs_baseline'])} {base})" if cheapest.get("macs_vs_baseline") else ""))
        timed = [r for r in ok if r.get("latency_ms") is not None]
        if len(timed) < len(ok):
            continue
        fastest = min(timed, key=lambda r: r["latency_ms"])
        lines.append(f"  fastest here ({fastest['device']}): {fastest['label']} at {fastest['latency_ms']:.3g} ms")
        for r in variants:
            if missing(r.get("verdict")):
                continue
            estimate = RatioEstimate(
                ratio=r["latency_vs_baseline"], low=r["latency_ratio_low"], high=r["latency_ratio_high"],
                p_value=r["p_value"], verdict=r["verdict"], rounds=r["rounds"],
                replicates=r["processes"] if (r.get("processes") or 1) > 1 else r["rounds"],
                confidence=r["confidence"], margin=r["margin"])
            text = f"  {r['label']}: {format_ratio(r['macs_vs_baseline'])} the MACs; {estimate.describe(r['label'], base)}"
            if r.get("contended"):
                text += f"; CONTENDED: others took {r['contention']:.2f} cores while timing, not a result"
            lines.append(text)
    return lines


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def list_variants(as_json) -> None:
    """The registered variants: description, parameters with defaults, paper."""
    specs = [convbench.get_variant(name) for name in convbench.variant_names()]
    if as_json:
        _echo_json([{"name": s.name, "aliases": list(s.aliases), "description": s.description,
                     "paper": s.paper, "notes": s.notes,
                     "params": [{"name": p.name, "default": p.default, "help": p.help,
                                 "choices": p.choices, "open_choice": p.open_choice} for p in s.params]}
                    for s in specs])
        return
    table = Table(title="convbench variants", show_lines=True)
    for column in ("variant", "description", "parameters (default)", "paper"):
        table.add_column(column)
    for spec in specs:
        params = "\n".join(f"{p.name}={p.default!r}" + (" (choice)" if p.open_choice else "") for p in spec.params)
        label = spec.name + "".join(f"\nalias: {a}" for a in spec.aliases)
        description = spec.description + (f"\n{spec.notes}" if spec.notes else "")
        table.add_row(label, description, params or "-", spec.paper)
    _console().print(table)
    click.echo("(choice): the paper leaves this open; the default is convbench's pick.")


def _parse_params(items) -> dict:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"{item!r}: expected key=value, e.g. groups=4")
        try:
            params[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            params[key] = value
    return params


@main.command()
@click.argument("variant", required=False)
@click.option("--shape", default=DEFAULT_SHAPE, show_default=True, metavar="SPEC", help="The shape.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A variant parameter.")
@click.option("--model", metavar="NAME", help="A whole network (its convs swapped for VARIANT, if given).")
@click.option("--input", "model_input", metavar="C,H,W", help="The network's input per image [3,224,224].")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def show(variant, shape, params, model, model_input, as_json):
    """Per-layer breakdown of VARIANT (or of a network with --model), and its totals: formula vs
    counted vs ptflops vs torchsummary."""
    if model:
        return _show_model(model, model_input, variant, _parse_params(params), as_json)
    if not variant:
        raise InputError("show: name a VARIANT (see `convbench list`), or a network with --model")
    shape_ = parse_shape(shape)
    kwargs = _parse_params(params)
    try:
        spec = convbench.get_variant(variant)
        module = convbench.build(spec.name, shape_.in_channels, shape_.out_channels, shape_.kernel_size,
                                 shape_.stride, **kwargs)
        inputs = convbench.example_inputs(spec.name, shape_.batch, shape_.in_channels, shape_.height,
                                          shape_.width, stride=shape_.stride, **kwargs)
        cost = convbench.count(module, *inputs)
    except ValueError as error:
        raise InputError(str(error)) from None
    formula = spec.cost(shape_.in_channels, shape_.out_channels, shape_.kernel_size, shape_.stride,
                        shape_.height, shape_.width, **kwargs)
    if as_json:
        _echo_json({"variant": spec.name, "shape": dataclasses.asdict(shape_), "cost": cost.as_dict(),
                    "formula": dataclasses.asdict(formula) if formula else None})
        return
    console = _console()
    _layer_table(cost, f"{spec.name} on {shape_.label}: per layer, per image", console)
    totals = Table(title="totals per image: formula vs counters", title_justify="left")
    for column in ("source", "params", "MACs"):
        totals.add_column(column, justify="left" if column == "source" else "right")

    def fmt(value):
        return "-" if value is None else f"{value:,}"

    totals.add_row("closed-form formula", fmt(formula and formula.params), fmt(formula and formula.macs))
    totals.add_row("exact (aten dispatch)", fmt(cost.params), fmt(cost.macs))
    totals.add_row("ptflops, pytorch backend", "-", fmt(cost.macs_ptflops))
    totals.add_row("ptflops, aten backend", "-", fmt(cost.macs_ptflops_aten))
    totals.add_row("torchsummary", fmt(cost.params_torchsummary), "-")
    console.print(totals)
    console.print(f"kMAC/pixel: {cost.kmac_per_pixel:.4g} (MACs / 1000 / {cost.pixels} input pixels); "
                  f"FLOPs = 2 x MACs = {cost.flops:,}")
    console.print(f"check: {cost.check}")
    if cost.uncounted_ops:
        console.print(f"ops with no cost entry (counted as 0): {', '.join(cost.uncounted_ops)}")


def _layer_table(cost: convbench.Cost, title: str, console: Console) -> None:
    layers = Table(title=title, title_justify="left")
    for column in ("layer", "type", "calls", "params", "fixed weights", "MACs", "element ops", "bytes written"):
        layers.add_column(column, justify="left" if column in ("layer", "type") else "right")
    for row in cost.layers:
        layers.add_row(row.name, row.type, str(row.calls), f"{row.params:,}", f"{row.fixed_weights:,}",
                       f"{row.macs:,}", f"{row.elem_ops:,}", f"{row.activation_bytes:,}")
    layers.add_row("total", "", "", f"{cost.params:,}", f"{cost.fixed_weights:,}", f"{cost.macs:,}",
                   f"{cost.elem_ops:,}", f"{cost.activation_bytes:,}", style="bold")
    console.print(layers)


def _show_model(name: str, model_input: str | None, variant: str | None, params: dict, as_json: bool) -> None:
    from convbench.runner import build_case

    workload = parse_model(name, model_input)
    request = _request(variant) if variant else VariantRequest("conv")
    if params:
        request = VariantRequest(request.name, tuple({**dict(request.params), **params}.items()))
    swaps: dict = {}
    try:
        module, inputs = build_case(workload, request, swaps)
        cost = convbench.count(module, *inputs)
    except ValueError as error:
        raise InputError(str(error)) from None
    if as_json:
        _echo_json({"model": workload.label, "variant": request.label, **swaps, "cost": cost.as_dict()})
        return
    console = _console()
    title = f"{workload.label}" + (f", convs swapped for {request.label}" if variant else "")
    _layer_table(cost, f"{title}: per layer, per image", console)
    if swaps.get("convs_replaced") is not None and variant:
        kept = f"; kept {swaps['convs_kept']} ({swaps['convs_kept_why']})" if swaps.get("convs_kept") else ""
        console.print(f"replaced {swaps['convs_replaced']} convs{kept}", markup=False)
    console.print(f"params {cost.params:,}; MACs {cost.macs:,} per image (FLOPs = 2 x MACs); "
                  f"kMAC/pixel {cost.kmac_per_pixel:.4g}; ptflops {cost.macs_ptflops}; check: {cost.check}",
                  markup=False)


@main.command("export")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="csv", show_default=True)
@click.option("--digits", type=click.IntRange(1, 15), default=DIGITS, show_default=True,
              help="Significant figures of every number.")
@click.option("--shape", metavar="TEXT", help="Only the shapes whose label contains TEXT, e.g. '64->64, k=3'.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def export_command(results, fmt, digits, shape, output):
    """One or more runs (directories, results.json or results.csv) as a table for a paper: LaTeX
    and Markdown get one table per shape and machine; csv and json every row with its machine."""
    merged = _load_runs(results)
    try:
        text = export(merged.df, merged.metadata, fmt, digits=digits, shape=shape)
    except ValueError as error:
        raise InputError(str(error)) from None
    if output:
        try:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            write_atomically(Path(output), text)
        except OSError as error:
            raise InputError(f"-o {output}: cannot write ({error.strerror or error})") from None
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@main.command("merge")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="The merged run's directory (must not hold results yet).")
def merge_command(runs, out):
    """Join RUNS (shards, resumed pieces, other machines) into one run directory. A case measured
    twice on the same machine keeps the first run's row; each row keeps its machine, and no ratio
    is ever taken across machines."""
    merged = _load_runs(runs)
    try:
        directory = write_merged(merged, list(runs), out, lambda df, meta: markdown_report(
            df, meta, "convbench merge " + " ".join(map(shlex.quote, [*runs, "-o", out]))))
    except OutputError as error:
        raise InputError(str(error)) from None
    machines = merged.machines
    click.echo(f"{len(merged.df)} rows from {len(runs)} runs on {len(machines)} machine(s) "
               f"({', '.join(machines)}) written to {directory}/"
               + (f"; {merged.duplicates} duplicate rows dropped (the same case on the same machine in an "
                  "earlier run)" if merged.duplicates else ""))


def _load_runs(paths) -> Merged:
    """Runs for export / plot / merge: a problem is one line (exit 2), a workaround a warning."""
    try:
        merged = merge_runs(list(paths), warn=lambda message: click.echo(f"warning: {message}", err=True))
    except ResultsError as error:
        raise InputError(str(error)) from None
    if merged.duplicates:
        click.echo(f"warning: {merged.duplicates} rows measured twice on the same machine; kept the first "
                   "run's", err=True)
    return merged


def _plot(df, metadata, paths: tuple[Path, Path]) -> list[Path]:
    from convbench.plot import plot_files

    try:
        return plot_files(df, metadata, *paths)
    except (ImportError, ValueError) as error:
        raise InputError(str(error)) from None
    except OSError as error:
        raise InputError(f"{error.filename or paths[0]}: cannot write the plot ({error.strerror or error})") from None


@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--out", type=click.Path(), metavar="DIR|FILE",
              help="A directory for both charts [the first run's own], or a .png / .svg / .pdf file: the latency "
                   "chart goes there and the roofline beside it as <stem>-roofline.<ext>.")
@click.option("--format", "fmt", type=click.Choice(list(PLOT_FORMATS)), default="png", show_default=True)
def plot(results, out, fmt):
    """Latency vs MACs (log-log, Pareto front, baseline ringed, IQR bars) and the roofline chart of
    one or more runs; one panel per shape and machine."""
    merged = _load_runs(results)
    source = Path(results[0])
    target = Path(out) if out else (source if source.is_dir() else source.parent)
    if target.suffix.lower().lstrip(".") in PLOT_FORMATS:
        fmt = target.suffix.lower().lstrip(".")
        paths = (target, target.with_name(f"{target.stem}-roofline{target.suffix}"))
    else:
        paths = (target / f"latency_vs_macs.{fmt}", target / f"roofline.{fmt}")
    for path in _plot(merged.df, merged.metadata, paths):
        click.echo(str(path))


@main.command()
@click.option("--calibrate", is_flag=True, help="Measure peak GMAC/s and GB/s for the roofline, and cache them.")
@click.option("--dtype", type=click.Choice(list(DTYPES)), default="float32", show_default=True,
              help="dtype to calibrate.")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads to calibrate [all].")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def env(calibrate, dtype, threads, as_json):
    """The machine and library versions a result depends on; with --calibrate, this machine's
    peak compute (a large matmul) and memory bandwidth (a large copy), cached for every later run."""
    data = {**run_metadata(device="cuda" if torch.cuda.is_available() else "cpu"), **library_versions()}
    if calibrate:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for device in devices:
            try:
                peaks = roofline.calibrate(device, dtype, threads)
            except ContendedError as error:
                raise ContendedExit(str(error)) from None
            data[f"{device} {dtype} peak"] = f"{peaks['peak_gmacs_per_s']:.1f} GMAC/s ({peaks['peak_from']})"
            data[f"{device} {dtype} bandwidth"] = f"{peaks['bandwidth_gb_per_s']:.1f} GB/s ({peaks['copy']})"
    data["calibration cache"] = str(roofline.cache_path())
    data["calibrations"] = [_calibration_line(entry) for entry in roofline.cached_calibrations()] or \
        "none: `convbench env --calibrate` measures this machine's peaks for the roofline columns"
    if as_json:
        _echo_json(data)
        return
    table = Table(title="convbench env", show_header=False)
    for key, value in data.items():
        table.add_row(key, "\n".join(value) if isinstance(value, list) else str(value))
    _console().print(table)


def _calibration_line(entry: dict) -> str:
    contention = entry.get("contention") or {}
    conditions = (f"others took {contention['contention']:.2f} cores" if "contention" in contention
                  else "contention not recorded")
    return (f"{entry['device']} {entry['dtype']} {entry['threads']} threads (torch {entry['torch']}): "
            f"{entry['peak_gmacs_per_s']:.1f} GMAC/s, {entry['bandwidth_gb_per_s']:.1f} GB/s; "
            f"{entry.get('date', 'undated')} ({roofline.age_text(entry.get('date'))}), {conditions}")
