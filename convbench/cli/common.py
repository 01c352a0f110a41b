"""What every command shares: one-line errors, the console, and parsing of shapes, networks and
variant parameters given on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml
from rich.console import Console

from convbench import backends
from convbench.registry import get_variant
from convbench.plan.config import MAX_CASES, ConfigError, ModelWorkload, Shape, Suite, VariantRequest
from convbench.store.validation import MAX_BYTES
from convbench.plan.loading import CodePolicy, load_config, parse_config
from convbench.plan.overrides import Overrides

QUICK_TIMING = {"min_time": 0.05, "rounds": 5, "warmup_time": 0.01, "processes": 1, "min_span": 0.0}
DEFAULT_SHAPE = "in=64,out=64,k=3,size=56"
SHAPE_ALIASES = {"in": "in_channels", "out": "out_channels", "k": "kernel_size", "s": "stride",
                 "h": "height", "w": "width", "n": "batch"}


class InputError(click.ClickException):
    """Bad input: one line on stderr, exit code 2, no traceback."""

    exit_code = 2


class BackendSpec(click.ParamType):
    """A --backend value: a runtime, or compile:MODE."""

    name = "backend"

    def convert(self, value, param, ctx):
        try:
            return backends.canonical(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


def max_size_option(function):
    """``--max-size MIB``: the largest results file read (default 1024 MiB), as bytes."""
    return click.option("--max-size", "max_bytes", type=click.IntRange(min=1), default=MAX_BYTES >> 20,
                        show_default=True, metavar="MIB", callback=lambda ctx, param, value: value << 20,
                        help="Refuse results files larger than this many MiB.")(function)


def pool_option(function):
    return click.option("--pool", is_flag=True,
                        help="Pool a case measured in several runs on one machine into one row: the geometric "
                             "mean, and the interval and verdict across the runs (the spread a machine with "
                             "phases really has) [keep the first run's row].")(function)


def new_console() -> Console:
    """The terminal's width; piped, $COLUMNS (80 when unset)."""
    return Console(highlight=False)


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=1, default=str))


class ContendedExit(click.ClickException):
    """A timing was contended (or unstable) under ``on_contention: fail`` (``on_instability: fail``),
    as ``--strict`` sets: exit code 3."""

    exit_code = 3


def load_suite(path: str, max_cases: int = MAX_CASES, trust_code: bool = False,
               shapes_and_timing_only: bool = False, overrides: Overrides = Overrides()) -> Suite:
    try:
        return load_config(path, max_cases, trust_code, shapes_and_timing_only, overrides)
    except ConfigError as error:
        raise InputError(str(error)) from None


def is_whole_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes "²", which ``int`` refuses."""
    return text.isascii() and text.isdigit()


def parse_shape(text: str) -> Shape:
    """``in=64,out=64,k=3,size=56`` (also stride / s, batch / n, height / h, width / w)."""
    values = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = SHAPE_ALIASES.get(key.strip(), key.strip())
        if not sep or not is_whole_number(value.strip()):
            raise InputError(f"--shape {text!r}: expected key=positive integer pairs such as {DEFAULT_SHAPE}")
        values[key] = int(value)
    source = "{" + ", ".join(f"{k}: {v}" for k, v in values.items()) + "}"
    try:
        return parse_config(f"shapes: [{source}]\nvariants: [conv]", source=f"--shape {text}").shapes[0]
    except ConfigError as error:
        raise InputError(str(error)) from None


def model_entry(name: str, model_input: str | None = None) -> dict:
    """A ``--model`` (and ``--input C,H,W``) as a config's models entry."""
    entry: dict = {"name": name}
    if model_input:
        parts = model_input.split(",")
        if not all(is_whole_number(p.strip()) for p in parts):
            raise InputError(f"--input {model_input!r}: expected positive integers C,H,W such as 3,224,224")
        entry["input"] = [int(p) for p in parts]
    return entry


def parse_model(name: str, model_input: str | None = None) -> ModelWorkload:
    """A ``--model`` (and ``--input C,H,W``) as a config's models entry, validated the same way."""
    entry = model_entry(name, model_input)
    try:
        return parse_config(f"models: [{json.dumps(entry)}]\nvariants: [conv]", source=f"--model {name}",
                            code=CodePolicy(trusted=True, root=".")).models[0]  # named by the user: consent
    except ConfigError as error:
        raise InputError(str(error)) from None


def variant_entry(text: str) -> str | dict:
    """A command line's variant (``name`` or ``name:key=value,...``) as a config's variants entry."""
    request = variant_request(text)
    return {"name": request.name, **dict(request.params)} if request.params else request.name


def variant_request(text: str) -> VariantRequest:
    """``name`` or ``name:key=value,key=value``, e.g. ``octave:alpha_in=0.25,alpha_out=0.25``."""
    name, _, rest = text.partition(":")
    params = parse_params([item for item in rest.split(",") if item]) if rest else {}
    try:
        spec = get_variant(name)
        resolved = spec.resolve_params(params)
    except ValueError as error:
        raise InputError(str(error)) from None
    return VariantRequest(spec.name, tuple((k, resolved[k]) for k in params))


def parse_params(items) -> dict:
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


def draw_plots(df, metadata, paths: tuple[Path, Path], style=None, shape: str | None = None) -> list[Path]:
    from convbench.present.plot import PlotStyle, plot_files

    try:
        return plot_files(df, metadata, *paths, style=style or PlotStyle(), shape=shape)
    except (ImportError, ValueError) as error:
        raise InputError(str(error)) from None
    except OSError as error:
        raise InputError(f"{error.filename or paths[0]}: cannot write the plot ({error.strerror or error})") from None
