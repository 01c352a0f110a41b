"""YAML config -> Suite: validated before anything runs, sweeps expanded into cases.

Every problem is a :class:`ConfigError` whose message names the file, the line and the field, and
says what would be valid::

    configs/x.yaml:12: variants[2]: unknown variant 'octav'; did you mean 'octave'?
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import math
from pathlib import Path

from convbench.backends import BACKENDS
from convbench.backends import canonical as canonical_backend
from convbench.backends import parse as parse_backend
from convbench.models import model_names
from convbench.models.user import is_user_model, load_callable
from convbench.registry import get_variant, variant_names
from convbench.suite import yaml_loading
from convbench.suite.config import (DEVICES, MAX_CASES, MIN_ROUNDS, MODEL_KEYS, ON_CONTENTION, SHAPE_KEYS, TOP_KEYS,
                                    WHERE_KEYS, ConfigError, ModelWorkload, Shape, Suite, SuiteTiming, VariantRequest)
from convbench.timing.settings import DTYPES, MEMORY_FORMATS

TIMING_KEYS = tuple(field.name for field in dataclasses.fields(SuiteTiming))


class _Located:
    """The parsed YAML (see :mod:`convbench.suite.yaml_loading`), with the line of every mapping key and
    list item, by path."""

    def __init__(self, source: str, text: str | bytes):
        self.source = source
        raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
        try:
            located = yaml_loading.load(raw)
        except yaml_loading.YAMLProblem as problem:
            raise ConfigError(f"{source}:{problem.line}: {problem.message}") from None
        self.data, self.lines = located.data, located.lines

    def error(self, path: tuple, message: str) -> ConfigError:
        line = self.lines.get(path) or self.lines.get(path[:-1]) or 1
        where = _path_label(path)
        return ConfigError(f"{self.source}:{line}: {where + ': ' if where else ''}{message}")


def _path_label(path: tuple) -> str:
    label = ""
    for part in path:
        label += f"[{part}]" if isinstance(part, int) else (f".{part}" if label else str(part))
    return label


def _suggest(name: str, valid) -> str:
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1)
    return f"; did you mean '{close[0]}'?" if close else f" (valid: {', '.join(map(str, valid))})"


def _expect_int(doc: _Located, path: tuple, value, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise doc.error(path, f"must be an integer, got {value!r}")
    if value < minimum:
        raise doc.error(path, f"must be >= {minimum}, got {value}")
    return value


def _expect_number(doc: _Located, path: tuple, value, low: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise doc.error(path, f"must be {what} from {low:g} to {high:g}, got {value!r}")
    return float(value)


def _expect_choice(doc: _Located, path: tuple, value, choices) -> str:
    if value not in choices:
        raise doc.error(path, f"{value!r} is not valid; choose one of {', '.join(choices)}")
    return value


def _check_keys(doc: _Located, path: tuple, mapping, allowed) -> None:
    if not isinstance(mapping, dict):
        raise doc.error(path, f"must be a mapping with keys from: {', '.join(allowed)}")
    for key in mapping:
        if key not in allowed:
            raise doc.error(path + (key,), f"unknown key '{key}'{_suggest(key, allowed)}")


def load_config(path: str | Path, max_cases: int = MAX_CASES) -> Suite:
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(yaml_loading.MAX_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config ({error.strerror or error})") from None
    return parse_config(raw, str(path), default_name=path.stem, max_cases=max_cases)


def parse_config(text: str | bytes, source: str = "<config>", default_name: str = "run",
                 max_cases: int = MAX_CASES) -> Suite:
    doc = _Located(source, text)
    data = doc.data
    _check_keys(doc, (), data, TOP_KEYS)
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise doc.error(("name",), f"must be a non-empty string, got {name!r}")

    devices = data.get("devices", ["cpu"])
    if isinstance(devices, str):
        devices = [devices]
    if not isinstance(devices, list) or not devices:
        raise doc.error(("devices",), "must be a list such as [cpu] or [cpu, cuda]")
    for i, device in enumerate(devices):
        _expect_choice(doc, ("devices", i), device, DEVICES)

    dtype = _expect_choice(doc, ("dtype",), data.get("dtype", "float32"), tuple(DTYPES))
    memory_format = _expect_choice(doc, ("memory_format",), data.get("memory_format", "contiguous"),
                                   tuple(MEMORY_FORMATS))
    timing = _parse_timing(doc, data.get("timing", {}))
    backends = _parse_backends(doc, data.get("backends", ["eager"]), timing)
    models = _parse_models(doc, data.get("models", []))
    variants_data = data.get("variants")
    if not isinstance(variants_data, list) or not variants_data:
        raise doc.error(("variants",), "must be a non-empty list of variant names or {name: ..., params}")
    variants = [_parse_variant(doc, ("variants", i), item) for i, item in enumerate(variants_data)]
    shape_sweep, param_sweep = _split_sweep(doc, data.get("sweep", {}) or {}, variants)
    variants = _sweep_variants(doc, variants, param_sweep, max_cases)
    shapes = _parse_shapes(doc, data, shape_sweep, max_cases) if ("shapes" in data or not models) else []
    baseline = _parse_variant(doc, ("baseline",), data.get("baseline", "conv"))
    description = data.get("description", "")
    if not isinstance(description, str):
        raise doc.error(("description",), "must be text")
    suite = Suite(name=name, baseline=baseline, devices=list(dict.fromkeys(devices)), dtype=dtype,
                  memory_format=memory_format, timing=timing, shapes=shapes, variants=variants,
                  source=source, description=description.strip(), models=models, backends=backends)
    cases = suite.case_count()
    if cases > max_cases:
        raise doc.error((), f"{cases:,} cases (shapes x devices x variants), more than the limit of "
                            f"{max_cases:,}; raise it with --max-cases if that is meant")
    return suite


def _parse_timing(doc: _Located, timing) -> SuiteTiming:
    _check_keys(doc, ("timing",), timing, TIMING_KEYS)
    result = {}
    for key, value in timing.items():
        path = ("timing", key)
        if key in ("min_time", "warmup_time"):
            value = _expect_number(doc, path, value, 0, 3600, "a number of seconds")
        elif key == "contention_threshold":
            value = _expect_number(doc, path, value, 0, 1024, "cores' worth of CPU")
        elif key == "margin":
            value = _expect_number(doc, path, value, 0, 1, "a fraction such as 0.05")
        elif key == "confidence":
            value = _expect_number(doc, path, value, 0.5, 0.999, "a level such as 0.95")
        elif key == "rounds":
            value = _expect_int(doc, path, value, minimum=MIN_ROUNDS)
        elif key == "processes":
            value = _expect_int(doc, path, value, minimum=1)
        elif key == "retries":
            value = _expect_int(doc, path, value, minimum=0)
        elif key in ("on_contention", "on_instability"):
            value = _expect_choice(doc, path, value, ON_CONTENTION)
        elif key == "min_span":
            value = _expect_number(doc, path, value, 0, 3600, "a number of seconds")
        elif key == "threads":
            value = _parse_threads(doc, path, value)
        elif key == "tf32" and value is None:
            pass
        elif not isinstance(value, bool):
            raise doc.error(path, f"must be true or false, got {value!r}")
        result[key] = value
    return SuiteTiming(**result)


def _parse_threads(doc: _Located, path: tuple, value) -> int | None | tuple[int, ...]:
    """``threads``: null (torch's count), a whole number, or a list of them (each a case)."""
    if not isinstance(value, list):
        return None if value is None else _expect_int(doc, path, value)
    if not value:
        raise doc.error(path, "must be a whole number >= 1 or a non-empty list of them, such as [1, 2]")
    counts = tuple(_expect_int(doc, (*path, i), v) for i, v in enumerate(value))
    return counts[0] if len(set(counts)) == 1 else tuple(dict.fromkeys(counts))


def _parse_backends(doc: _Located, value, timing: SuiteTiming) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        raise doc.error(("backends",), f"must be a list such as [eager, onnxruntime] (from: {', '.join(BACKENDS)})")
    for i, name in enumerate(names):
        if not isinstance(name, str) or name.partition(":")[0] not in BACKENDS:
            raise doc.error(("backends", i), f"unknown backend {name!r}{_suggest(str(name), BACKENDS)}")
        try:
            parse_backend(name)
        except ValueError as error:
            raise doc.error(("backends", i), str(error)) from None
    if timing.training and names != ["eager"]:
        raise doc.error(("backends",), "runtimes other than eager time inference only; drop them or timing.training")
    return list(dict.fromkeys(canonical_backend(name) for name in names))


def _parse_models(doc: _Located, models) -> list[ModelWorkload]:
    if not isinstance(models, list):
        raise doc.error(("models",), "must be a list such as - {name: resnet18, size: 224}")
    result = []
    for i, item in enumerate(models):
        path = ("models", i)
        if isinstance(item, str):
            item = {"name": item}
        _check_keys(doc, path, item, MODEL_KEYS)
        name = item.get("name")
        if is_user_model(name):
            try:
                load_callable(name)
            except ValueError as error:
                raise doc.error(path + ("name",), str(error)) from None
        elif name not in model_names():
            raise doc.error(path + ("name",), f"unknown model {name!r}{_suggest(name, model_names())}; "
                                              "or give your own as package.module:callable or file.py:callable")
        where = item.get("where", {}) or {}
        _check_keys(doc, path + ("where",), where, WHERE_KEYS)
        for key in ("min_kernel", "max_kernel"):
            if key in where:
                _expect_int(doc, path + ("where", key), where[key])
        if "groups" in where:
            _expect_choice(doc, path + ("where", "groups"), where["groups"], ("one", "depthwise", "any"))
        kwargs = item.get("kwargs", {}) or {}
        if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise doc.error(path + ("kwargs",), "must be a mapping of keyword arguments for the callable")
        if "input" in item and "size" in item:
            raise doc.error(path + ("input",), "give input or size, not both")
        skip_unfit = item.get("skip_unfit", True)
        if not isinstance(skip_unfit, bool):
            raise doc.error(path + ("skip_unfit",), f"must be true or false, got {skip_unfit!r}")
        result.append(ModelWorkload(
            name=name,
            batch=_expect_int(doc, path + ("batch",), item.get("batch", 1)),
            size=_expect_int(doc, path + ("size",), item.get("size", 224), minimum=32),
            where=tuple(where.items()),
            kwargs_json=json.dumps(kwargs, sort_keys=True),
            inputs=_parse_inputs(doc, path + ("input",), item["input"]) if "input" in item else (),
            skip_unfit=skip_unfit,
        ))
    return result


def _parse_inputs(doc: _Located, path: tuple, value) -> tuple[tuple[int, ...], ...]:
    """``[C, H, W]``, or a list of them for a network that takes several inputs."""
    shapes = value if isinstance(value, list) and value and all(isinstance(v, list) for v in value) else [value]
    result = []
    for i, shape in enumerate(shapes):
        where = path + ((i,) if len(shapes) > 1 else ())
        if not isinstance(shape, list) or not shape:
            raise doc.error(where, f"must be a shape per image such as [3, 224, 224], got {shape!r}")
        result.append(tuple(_expect_int(doc, where + (j,), v) for j, v in enumerate(shape)))
    return tuple(result)


def _split_sweep(doc: _Located, sweep, variants: list[VariantRequest]) -> tuple[dict, dict]:
    """``sweep:`` as (shape keys -> values, variant parameter keys -> values). A parameter key is
    ``param`` (every variant listed that takes it), ``variant.param`` (that variant only), or
    parameters joined by commas (``alpha_in,alpha_out``), which take each value together."""
    if not isinstance(sweep, dict):
        raise doc.error(("sweep",), "must be a mapping such as {kernel_size: [3, 5, 7]} or {groups: [2, 4, 8]}")
    shape_sweep, param_sweep = {}, {}
    params = {p.name for v in variants for p in get_variant(v.name).params}
    for key, values in sweep.items():
        path = ("sweep", key)
        if not isinstance(key, str):
            raise doc.error(path, f"must be a shape key or a variant parameter, got {key!r}")
        if key in SHAPE_KEYS:
            shape_sweep[key] = values
            continue
        target, _, names = key.rpartition(".")
        takers = [v for v in variants if not target or v.name == target]
        if target and not takers:
            raise doc.error(path, f"no variant '{target}' in variants to sweep{_suggest(target, [v.name for v in variants])}")
        for name in names.split(","):
            if not any(name in {p.name for p in get_variant(v.name).params} for v in takers):
                raise doc.error(path, f"unknown key '{name}': neither a shape key nor a parameter of "
                                      f"{target or 'any variant listed'}{_suggest(name, [*SHAPE_KEYS, *sorted(params)])}")
        if not isinstance(values, list) or not values:
            raise doc.error(path, f"must be a non-empty list of values, e.g. {key}: [2, 4, 8]")
        param_sweep[key] = values
    return shape_sweep, param_sweep


def _sweep_variants(doc: _Located, variants: list[VariantRequest], sweep: dict, max_cases: int) -> list[VariantRequest]:
    """Each variant once per combination of the swept parameters it takes; the label names them."""
    if not sweep:
        return variants
    expanded = []
    for variant in variants:
        spec = get_variant(variant.name)
        takes = {p.name for p in spec.params}
        keys = [k for k in sweep if (k.rpartition(".")[0] in ("", variant.name))
                and all(n in takes for n in k.rpartition(".")[2].split(","))]
        if math.prod(len(sweep[k]) for k in keys) > max_cases:
            raise doc.error(("sweep",), f"expands {variant.name} to more than {max_cases:,} variants; "
                                        "raise the limit with --max-cases if that is meant")
        for combination in itertools.product(*(sweep[k] for k in keys)):
            params = dict(variant.params)
            for key, value in zip(keys, combination):
                for name in key.rpartition(".")[2].split(","):
                    params[name] = value
            try:
                resolved = spec.resolve_params(params)
            except ValueError as error:
                raise doc.error(("sweep", keys[0] if keys else ""), str(error)) from None
            expanded.append(VariantRequest(spec.name, tuple((k, resolved[k]) for k in params)))
    return list(dict.fromkeys(expanded))


def _parse_shapes(doc: _Located, data, sweep: dict, max_cases: int = MAX_CASES) -> list[Shape]:
    shapes = data.get("shapes")
    if not isinstance(shapes, list) or not shapes:
        raise doc.error(("shapes",), "must be a non-empty list of shapes, e.g. "
                                     "- {in_channels: 64, out_channels: 64, kernel_size: 3, size: 56}")
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise doc.error(("sweep", key), f"must be a non-empty list of values, e.g. {key}: [3, 5, 7]")
        for i, value in enumerate(values):
            _expect_int(doc, ("sweep", key, i), value)
    combinations = len(shapes) * math.prod(len(values) for values in sweep.values())
    if combinations > max_cases:
        raise doc.error(("sweep",), f"expands to {combinations:,} shapes, more than the limit of {max_cases:,} "
                                    "cases; raise it with --max-cases if that is meant")
    expanded = []
    for i, raw in enumerate(shapes):
        path = ("shapes", i)
        _check_keys(doc, path, raw, SHAPE_KEYS)
        base = dict(raw)
        for combo in itertools.product(*sweep.values()):
            values = {**base, **dict(zip(sweep, combo))}
            if "size" in sweep:  # a swept size overrides explicit height / width
                values.pop("height", None), values.pop("width", None)
            expanded.append(_make_shape(doc, path, values))
    return list(dict.fromkeys(expanded))


def _make_shape(doc: _Located, path: tuple, values: dict) -> Shape:
    for key, value in values.items():
        _expect_int(doc, path + (key,), value)
    if "in_channels" not in values:
        raise doc.error(path, "needs in_channels (out_channels defaults to it)")
    size = values.get("size")
    height, width = values.get("height", size), values.get("width", size)
    if height is None or width is None:
        raise doc.error(path, "needs size (square input) or both height and width")
    if "size" in values and ("height" in values or "width" in values):
        raise doc.error(path, "give size or height / width, not both")
    return Shape(batch=values.get("batch", 1), in_channels=values["in_channels"],
                 out_channels=values.get("out_channels", values["in_channels"]),
                 kernel_size=values.get("kernel_size", 3), stride=values.get("stride", 1),
                 height=height, width=width)


def _parse_variant(doc: _Located, path: tuple, item) -> VariantRequest:
    if isinstance(item, str):
        name, params = item, {}
    elif isinstance(item, dict):
        if "name" not in item:
            raise doc.error(path, "a variant given as a mapping needs 'name', e.g. {name: group, groups: 4}")
        params = {k: v for k, v in item.items() if k != "name"}
        name = item["name"]
    else:
        raise doc.error(path, f"must be a variant name or {{name: ..., <param>: ...}}, got {item!r}")
    names = variant_names()
    try:
        spec = get_variant(name)
    except ValueError:
        raise doc.error(path + (("name",) if isinstance(item, dict) else ()),
                        f"unknown variant '{name}'{_suggest(name, names)}") from None
    known = {p.name for p in spec.params}
    for key in params:
        if key not in known:
            valid = sorted(known)
            raise doc.error(path + (key,), f"unknown parameter '{key}' for {spec.name}"
                                           f"{_suggest(key, valid) if valid else ' (it takes none)'}")
    try:
        resolved = spec.resolve_params(params)
    except ValueError as error:
        raise doc.error(path, str(error)) from None
    given = tuple((k, resolved[k]) for k in params)
    return VariantRequest(spec.name, given)
