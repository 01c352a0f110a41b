"""YAML config -> Suite: validated before anything runs, sweeps expanded into cases.

Every problem is a :class:`ConfigError` whose message names the file, the line and the field, and
says what would be valid::

    configs/x.yaml:12: variants[2]: unknown variant 'octav'; did you mean 'octave'?
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from convbench.backends import BACKENDS
from convbench.backends import canonical as canonical_backend
from convbench.backends import parse as parse_backend
from convbench.backends import runtime
from convbench.models import model_names
from convbench.models.user import is_user_code, load_callable
from convbench.registry import get_variant, variant_names
from convbench.plan import yaml_loading
from convbench.plan.code_entries import CodePolicy, consent, user_variant
from convbench.plan.model_inputs import parse_inputs
from convbench.plan.located import ConfigDocument, check_keys, expect_choice, expect_int, expect_number, suggest
from convbench.plan.expand import make_plan
from convbench.plan.overrides import Overrides
from convbench.plan.sweeps import check_case_count, parse_shapes, split_sweep, sweep_variants
from convbench.plan.config import (DEVICES, MAX_CASES, MIN_ROUNDS, MODEL_KEYS, ON_CONTENTION, SHAPE_KEYS, TOP_KEYS,
                                   WHERE_KEYS, ConfigError, ModelWorkload, Suite, SuiteTiming, VariantRequest,
                                   precision_problem)
from convbench.timing.settings import MEMORY_FORMATS, OPTIMIZERS, PRECISIONS

TIMING_KEYS = tuple(field.name for field in dataclasses.fields(SuiteTiming))


def load_config(path: str | Path, max_cases: int = MAX_CASES, trust_code: bool = False,
                shapes_and_timing_only: bool = False, overrides: Overrides = Overrides()) -> Suite:
    """A config file as a suite, with the command line's ``overrides``. Entries naming code are
    refused unless ``trust_code``; with ``shapes_and_timing_only`` its models and variants are not
    read at all (``compare --config``)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(yaml_loading.MAX_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config ({error.strerror or error})") from None
    return parse_config(raw, str(path), default_name=path.stem, max_cases=max_cases,
                        code=CodePolicy(trust_code, str(path.parent)), shapes_and_timing_only=shapes_and_timing_only,
                        overrides=overrides)


def parse_config(text: str | bytes, source: str = "<config>", default_name: str = "run",
                 max_cases: int = MAX_CASES, code: CodePolicy = CodePolicy(),
                 shapes_and_timing_only: bool = False, overrides: Overrides = Overrides()) -> Suite:
    doc = ConfigDocument(source, text)
    doc.code = code
    data = doc.data
    check_keys(doc, (), data, TOP_KEYS)
    if shapes_and_timing_only:
        data = {**{k: v for k, v in data.items() if k not in ("models", "variants", "baseline")}, "variants": ["conv"],
                "sweep": {k: v for k, v in (data.get("sweep") or {}).items() if k in SHAPE_KEYS}
                if isinstance(data.get("sweep"), dict) else data.get("sweep")}
    data, doc.flags = overrides.apply(data)
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise doc.error(("name",), f"must be a non-empty string, got {name!r}")

    devices = data.get("devices", ["cpu"])
    if isinstance(devices, str):
        devices = [devices]
    if not isinstance(devices, list) or not devices:
        raise doc.error(("devices",), "must be a list such as [cpu] or [cpu, cuda]")
    for i, device in enumerate(devices):
        expect_choice(doc, ("devices", i), device, DEVICES)

    dtypes = _parse_dtypes(doc, data.get("dtype", "float32"))
    memory_format = expect_choice(doc, ("memory_format",), data.get("memory_format", "contiguous"),
                                   tuple(MEMORY_FORMATS))
    timing = _parse_timing(doc, data.get("timing", {}))
    backends = _parse_backends(doc, data.get("backends", ["eager"]), timing)
    problem = precision_problem(dtypes, backends, timing.training)
    if problem:
        raise doc.error(("dtype",), problem)
    models = _parse_models(doc, data.get("models", []))
    variants_data = data.get("variants")
    if not isinstance(variants_data, list) or not variants_data:
        raise doc.error(("variants",), "must be a non-empty list of variant names or {name: ..., params}")
    variants = [_parse_variant(doc, ("variants", i), item) for i, item in enumerate(variants_data)]
    _refuse_repeats(doc, "variants", variants)
    shape_sweep, param_sweep = split_sweep(doc, data.get("sweep", {}) or {}, variants)
    baseline = _parse_variant(doc, ("baseline",), data.get("baseline", "conv"))
    check_case_count(doc, data, models, variants, shape_sweep, param_sweep, len(devices), len(backends),
                      len(timing.thread_counts) * len(dtypes), baseline, max_cases)
    variants = sweep_variants(doc, variants, param_sweep, max_cases)
    shapes = parse_shapes(doc, data, shape_sweep, max_cases) if ("shapes" in data or not models) else []
    description = data.get("description", "")
    if not isinstance(description, str):
        raise doc.error(("description",), "must be text")
    suite = Suite(name=name, baseline=baseline, devices=list(dict.fromkeys(devices)), dtype=dtypes[0],
                  dtypes=dtypes if len(dtypes) > 1 else [],
                  memory_format=memory_format, timing=timing, shapes=shapes, variants=variants,
                  source=source, description=description.strip(), models=models, backends=backends)
    cases = len(make_plan(suite).cases)
    if cases > max_cases:
        raise doc.error((), f"{cases:,} cases (shapes x devices x variants), more than the limit of "
                            f"{max_cases:,}; raise it with --max-cases if that is meant")
    for i, model in enumerate(models):  # consent was given: the code is imported now, to refuse a bad entry here
        if is_user_code(model.name):
            try:
                load_callable(model.name, model.root or None)
            except ValueError as error:
                raise doc.error(("models", i, "name"), str(error)) from None
    return suite


def _refuse_repeats(doc: ConfigDocument, key: str, items: list) -> None:
    """A variant or model listed twice would be measured twice under one case id."""
    seen: dict = {}
    for i, item in enumerate(items):
        if item in seen:
            raise doc.error((key, i), f"{item.label} is listed twice (also {key}[{seen[item]}]); list it once")
        seen[item] = i


def _parse_timing(doc: ConfigDocument, timing) -> SuiteTiming:
    check_keys(doc, ("timing",), timing, TIMING_KEYS)
    result = {}
    for key, value in timing.items():
        path = ("timing", key)
        if key in ("min_time", "warmup_time"):
            value = expect_number(doc, path, value, 0, 3600, "a number of seconds")
        elif key == "contention_threshold":
            value = expect_number(doc, path, value, 0, 1024, "cores' worth of CPU")
        elif key == "margin":
            value = expect_number(doc, path, value, 0, 1, "a fraction such as 0.05")
        elif key == "confidence":
            value = expect_number(doc, path, value, 0.5, 0.999, "a level such as 0.95")
        elif key == "rounds":
            value = expect_int(doc, path, value, minimum=MIN_ROUNDS)
        elif key == "processes":
            value = expect_int(doc, path, value, minimum=1)
        elif key == "retries":
            value = expect_int(doc, path, value, minimum=0)
        elif key in ("on_contention", "on_instability"):
            value = expect_choice(doc, path, value, ON_CONTENTION)
        elif key == "min_span":
            value = expect_number(doc, path, value, 0, 3600, "a number of seconds")
        elif key == "threads":
            value = _parse_threads(doc, path, value)
        elif key == "tf32" and value is None:
            pass
        elif key == "optimizer":
            value = None if value is None else expect_choice(doc, path, value, tuple(OPTIMIZERS))
            if value is not None and not timing.get("training"):
                raise doc.error(path, "an optimizer step is part of a training step: add timing.training: true")
        elif not isinstance(value, bool):
            raise doc.error(path, f"must be true or false, got {value!r}")
        result[key] = value
    return SuiteTiming(**result)


def _parse_threads(doc: ConfigDocument, path: tuple, value) -> int | None | tuple[int, ...]:
    """``threads``: null (torch's count), a whole number, or a list of them (each a case)."""
    if not isinstance(value, list):
        return None if value is None else expect_int(doc, path, value)
    if not value:
        raise doc.error(path, "must be a whole number >= 1 or a non-empty list of them, such as [1, 2]")
    counts = tuple(expect_int(doc, (*path, i), v) for i, v in enumerate(value))
    return counts[0] if len(set(counts)) == 1 else tuple(dict.fromkeys(counts))


def _parse_dtypes(doc: ConfigDocument, value) -> list[str]:
    """``dtype``: one precision, or a list of them, each timed as its own case in the same session."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise doc.error(("dtype",), f"must be one of {', '.join(PRECISIONS)}, "
                                    "or a list of them such as [float32, int8]")
    path = (lambda i: ("dtype", i)) if isinstance(value, list) else (lambda i: ("dtype",))
    return list(dict.fromkeys(expect_choice(doc, path(i), item, PRECISIONS) for i, item in enumerate(values)))


def _parse_backends(doc: ConfigDocument, value, timing: SuiteTiming) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        raise doc.error(("backends",), f"must be a list such as [eager, onnxruntime] (from: {', '.join(BACKENDS)})")
    for i, name in enumerate(names):
        if not isinstance(name, str) or name.partition(":")[0] not in BACKENDS:
            raise doc.error(("backends", i), f"unknown backend {name!r}{suggest(str(name), BACKENDS)}")
        try:
            parse_backend(name)
        except ValueError as error:
            raise doc.error(("backends", i), str(error)) from None
    inference_only = [name for name in names if not runtime(name).trains]
    if timing.training and inference_only:
        training = doc.flags.get(("timing", "training"), "timing.training")
        raise doc.error(("backends",), f"{', '.join(inference_only)}: runtimes other than eager time inference only; "
                                       f"drop them or {training}")
    return list(dict.fromkeys(canonical_backend(name) for name in names))


def _parse_models(doc: ConfigDocument, models) -> list[ModelWorkload]:
    if not isinstance(models, list):
        raise doc.error(("models",), "must be a list such as - {name: resnet18, size: 224}")
    result = []
    for i, item in enumerate(models):
        path = ("models", i)
        if isinstance(item, str):
            item = {"name": item}
        check_keys(doc, path, item, MODEL_KEYS)
        name = item.get("name")
        root = ""
        if is_user_code(name):
            root = consent(doc, path + ("name",), name, "model")
        elif name not in model_names():
            raise doc.error(path + ("name",), f"unknown model {name!r}{suggest(name, model_names())}; "
                                              "or give your own as package.module:callable or file.py:callable")
        where = item.get("where", {}) or {}
        check_keys(doc, path + ("where",), where, WHERE_KEYS)
        for key in ("min_kernel", "max_kernel"):
            if key in where:
                expect_int(doc, path + ("where", key), where[key])
        if "groups" in where:
            expect_choice(doc, path + ("where", "groups"), where["groups"], ("one", "depthwise", "any"))
        kwargs = item.get("kwargs", {}) or {}
        if not isinstance(kwargs, dict):
            raise doc.error(path + ("kwargs",), "must be a mapping of keyword arguments for the callable")
        _text_keys(doc, path + ("kwargs",), kwargs)
        if "input" in item and "size" in item:
            raise doc.error(path + ("input",), "give input or size, not both")
        skip_unfit = item.get("skip_unfit", True)
        if not isinstance(skip_unfit, bool):
            raise doc.error(path + ("skip_unfit",), f"must be true or false, got {skip_unfit!r}")
        shapes, specs = parse_inputs(doc, path + ("input",), item["input"]) if "input" in item else ((), ())
        result.append(ModelWorkload(
            name=name,
            batch=expect_int(doc, path + ("batch",), item.get("batch", 1)),
            size=expect_int(doc, path + ("size",), item.get("size", 224), minimum=32),
            where=tuple(where.items()),
            kwargs_json=json.dumps(kwargs, sort_keys=True),
            inputs=shapes,
            specs=specs,
            skip_unfit=skip_unfit,
            root=root,
        ))
    _refuse_repeats(doc, "models", result)
    return result


def _text_keys(doc: ConfigDocument, path: tuple, value) -> None:
    """Every mapping key inside ``value`` is text (JSON, which keeps the arguments, has no other keys)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str):
                raise doc.error(path + (key,), f"key {key!r} must be text; quote it ('{key}')")
            _text_keys(doc, path + (key,), inner)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _text_keys(doc, path + (i,), inner)


def _parse_variant(doc: ConfigDocument, path: tuple, item) -> VariantRequest:
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
    if is_user_code(name):
        name = user_variant(doc, path + (("name",) if isinstance(item, dict) else ()), name)
    try:
        spec = get_variant(name)
    except ValueError:
        raise doc.error(path + (("name",) if isinstance(item, dict) else ()),
                        f"unknown variant '{name}'{suggest(name, names)}") from None
    known = {p.name for p in spec.params}
    for key in params:
        if key not in known:
            valid = sorted(known)
            raise doc.error(path + (key,), f"unknown parameter '{key}' for {spec.name}"
                                           f"{suggest(key, valid) if valid else ' (it takes none)'}")
    try:
        resolved = spec.resolve_params(params)
    except ValueError as error:
        raise doc.error(path, str(error)) from None
    given = tuple((k, resolved[k]) for k in params)
    return VariantRequest(spec.name, given)


