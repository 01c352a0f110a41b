"""``convbench run``: every variant of one or more configs on their shapes, recorded into a run
directory and printed; the options ``run`` and ``compare`` share."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import click
import torch

from convbench import backends
from convbench.backends import BACKENDS, QUANTIZING
from convbench.cli.app import main
from convbench.cli.command_line import RecordedCommand, command_line
from convbench.cli.common import QUICK_TIMING, BackendSpec, InputError, is_whole_number, load_suite, max_size_option
from convbench.cli.outcome import record_and_report
from convbench.cli.plan_listing import print_plans
from convbench.plan.expand import make_plan
from convbench.plan.overrides import Overrides
from convbench.registry import get_variant
from convbench.store.files import holds_run, run_directory_name
from convbench.plan.config import MAX_CASES, Suite, VariantRequest
from convbench.timing.settings import PRECISIONS
from convbench.plan.sharding import parse_shard


def run_options(function):
    for option in reversed([
        click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), help="Override the devices."),
        click.option("--backend", "backend_names", multiple=True, type=BackendSpec(), metavar="NAME",
                     help=f"Time on this runtime (repeat for several): {', '.join(BACKENDS)}, or compile:MODE "
                          "(max-autotune, ...) [the config's, or eager]."),
        click.option("--dtype", "dtypes", metavar="NAME[,NAME...]", callback=_precisions,
                     help=f"Precision(s) (the config's dtype): {', '.join(PRECISIONS)}; several, e.g. float32,int8, "
                          "time every case in each in the same rounds. int8 is post-training static quantization on "
                          f"{', '.join(QUANTIZING)}."),
        click.option("--quick", is_flag=True,
                     help="Short timing: a few seconds per shape, in this process, rounds back to back (one "
                          "moment of the machine, not a spread over timing.min_span)."),
        click.option("--no-timing", is_flag=True, help="Count only; do not time."),
        click.option("--strict", is_flag=True,
                     help="Exit non-zero (3) if a timing was contended or the machine changed state during it "
                          "(timing.on_contention and on_instability: fail)."),
        click.option("--processes", type=click.IntRange(min=1), metavar="N",
                     help="Spread each shape's rounds over N fresh worker processes (timing.processes)."),
        click.option("--threads", metavar="N[,M...]", callback=_thread_counts,
                     help="CPU threads (timing.threads); several, e.g. 1,2, time every case at each in the same "
                          "rounds."),
        click.option("--max-cases", type=click.IntRange(min=1), default=MAX_CASES, show_default=True, metavar="N",
                     help="Refuse a config that queues more cases than this."),
        click.option("--json", "as_json", is_flag=True, help="Print rows as JSON instead of tables."),
        click.option("--debug", is_flag=True, help="Print the traceback of every case that failed or was skipped."),
        click.option("--trust-code", is_flag=True,
                     help="Let the config import the code its models and variants name (module:callable, "
                          "file.py:callable); only for configs you trust."),
    ]):
        function = option(function)
    return function


def _thread_counts(context, parameter, text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    if not all(is_whole_number(p) and 0 < int(p) <= 4096 for p in parts):
        raise InputError(f"--threads {text!r}: expected whole numbers from 1 to 4096, comma-separated, e.g. 1,2")
    return tuple(dict.fromkeys(int(p) for p in parts))


def _precisions(context, parameter, text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    wrong = [p for p in parts if p not in PRECISIONS]
    if wrong:
        raise InputError(f"--dtype {text!r}: {wrong[0]!r} is not one of {', '.join(PRECISIONS)}")
    return tuple(dict.fromkeys(parts))


def run_overrides(device: str | None = None, quick: bool = False, strict: bool = False, processes: int | None = None,
                  backend_names: tuple[str, ...] = (), threads: tuple[int, ...] | None = None,
                  dtypes: tuple[str, ...] | None = None, training: bool = False) -> Overrides:
    """What the options ``run`` and ``compare`` share change in a config, for it to be validated with."""
    overrides = Overrides()
    if device:
        overrides = overrides.set(("devices",), [device], "--device")
    if backend_names:
        overrides = overrides.set(("backends",), list(dict.fromkeys(backend_names)), "--backend")
    if dtypes:
        overrides = overrides.set(("dtype",), list(dtypes), "--dtype")
    if training:
        overrides = overrides.set(("timing", "training"), True, "--training")
    for key, value in (QUICK_TIMING if quick else {}).items():
        overrides = overrides.set(("timing", key), value, "--quick")
    if strict:
        overrides = overrides.set(("timing", "on_contention"), "fail", "--strict")
        overrides = overrides.set(("timing", "on_instability"), "fail", "--strict")
    if processes:
        overrides = overrides.set(("timing", "processes"), processes, "--processes")
    if threads:
        overrides = overrides.set(("timing", "threads"), list(threads), "--threads")
    return overrides


def check_runnable(suite: Suite) -> None:
    """Refuse, in one line, a suite this machine cannot run: a runtime's extra not installed, or
    CUDA asked for where torch sees no GPU."""
    for name in suite.backends:
        try:
            for precision in suite.precisions:
                backends.require(name, precision)
        except backends.BackendUnavailable as error:
            raise InputError(str(error)) from None
    if "cuda" in suite.devices and not torch.cuda.is_available():
        raise InputError(f"{suite.source}: device cuda requested, but torch {torch.__version__} sees no CUDA "
                         "GPU; use --device cpu, or auto to take a GPU only where there is one")


@main.command(cls=RecordedCommand)
@click.argument("configs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--only", multiple=True, metavar="VARIANT", help="Run only these variants (repeat or comma-separate).")
@click.option("--out", type=click.Path(), metavar="DIR",
              help="The run's directory, for every config given [results/<names>-<timestamp>].")
@click.option("--shard", metavar="K/N", help="Run shard K of N: every Nth shape (session), from the Kth. In a SLURM "
                                             "array job, slurm/N takes K from $SLURM_ARRAY_TASK_ID.")
@click.option("--resume", type=click.Path(), metavar="DIR",
              help="Add to DIR only the cases it lacks (after an interruption, or a config grown since); "
                   "starts DIR if it holds no results yet.")
@click.option("--resume-any-machine", "any_machine", is_flag=True,
              help="With --resume and --no-timing: count a case done whatever machine measured it (counts do not "
                   "depend on the machine) [only this machine's rows].")
@max_size_option
@click.option("--plot", "draw", is_flag=True, help="Also draw latency_vs_macs.png and roofline.png (needs matplotlib).")
@click.option("--plan", "show_plan", is_flag=True,
              help="Print the cases the run would time (this shard's, with their ids) and exit; times nothing.")
@run_options
def run(configs, only, out, shard, resume, any_machine, max_bytes, draw, show_plan, device, backend_names, dtypes,
        quick, no_timing, strict, processes, threads, max_cases, as_json, trust_code, debug):
    """Run every variant in each CONFIG on its shapes; write results.jsonl, results.csv, report.md
    and report.html into one directory, and print one table per shape."""
    overrides = run_overrides(device, quick, strict, processes, backend_names, threads, dtypes)
    wanted = [name for item in only for name in item.split(",") if name]
    suites = [load_suite(path, max_cases, trust_code, overrides=overrides) for path in configs]
    if wanted:
        suites = [dataclasses.replace(suite, variants=select_variants(suite, wanted)) for suite in suites]
    share = parse_shard_option(shard)
    if show_plan:
        print_plans([make_plan(suite).shard(share) for suite in suites], as_json)
        return
    for suite in suites:
        check_runnable(suite)
    if draw and no_timing:
        click.echo("warning: --plot draws latencies and --no-timing measures none, so no plots are drawn", err=True)
    if resume and out and Path(out).resolve() != Path(resume).resolve():
        raise InputError(f"--resume {resume} writes into {resume}; drop --out {out}, or make it the same directory")
    if resume and Path(resume).exists() and not Path(resume).is_dir():
        raise InputError(f"--resume {resume}: is a file, not a run directory")
    if any_machine and not (resume and no_timing):
        raise InputError("--resume-any-machine: only with --resume and --no-timing (a timing holds for the machine "
                         "that measured it)")
    starting = bool(resume) and not holds_run(Path(resume))
    if starting:  # the first attempt of a job that may be requeued: nothing to resume yet
        click.echo(f"--resume {resume}: no results there yet; starting the run in it", err=True)
    command = command_line()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    directory = Path(resume or out or Path("results") / run_directory_name(
        "+".join(dict.fromkeys(s.name for s in suites)) + (f"-shard{share.index}of{share.count}" if share else ""),
        stamp))
    record_and_report(suites, directory, not no_timing, as_json, draw=draw and not no_timing, shard=share,
                       resume=bool(resume) and not starting, command=command, debug=debug,
                       max_bytes=max_bytes, any_machine=any_machine)


def parse_shard_option(text: str | None):
    if text is None:
        return None
    try:
        return parse_shard(text)
    except ValueError as error:
        raise InputError(str(error)) from None


def select_variants(suite: Suite, wanted: list[str]) -> list[VariantRequest]:
    for name in wanted:
        try:
            get_variant(name)
        except ValueError as error:
            raise InputError(f"--only: {error}") from None
    names = {get_variant(n).name for n in wanted}
    chosen = [v for v in suite.variants if v.name in names]
    if not chosen:
        raise InputError(f"--only: none of {', '.join(wanted)} is in {suite.source} "
                         f"(it has: {', '.join(v.name for v in suite.variants)})")
    return chosen
