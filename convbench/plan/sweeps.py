"""``sweep:``: shape keys and variant parameters swept over lists of values, the cases they make
counted arithmetically (refused above the limit before anything is built), then expanded."""

from __future__ import annotations

import itertools
import math

from convbench.registry import get_variant
from convbench.plan.config import MAX_CASES, SHAPE_KEYS, Shape, VariantRequest
from convbench.plan.located import ConfigDocument, check_keys, expect_int, suggest


def check_case_count(doc: ConfigDocument, data: dict, models: list, variants: list[VariantRequest], shape_sweep: dict,
                      param_sweep: dict, devices: int, backends: int, threads: int, baseline: VariantRequest,
                      max_cases: int) -> None:
    """Refuse a config that queues too many cases before any case or shape is built: the count is
    arithmetic (at most what the sweep expands to; repeats it makes are dropped later)."""
    shapes = data.get("shapes")
    shape_count = (len(shapes) if isinstance(shapes, list) else 0) * math.prod(
        len(v) if isinstance(v, list) else 1 for v in shape_sweep.values())
    variant_count = sum(math.prod(len(param_sweep[k]) for k in sweep_keys(v, param_sweep)) for v in variants)
    variant_count += baseline not in variants
    cases = (shape_count + len(models)) * devices * variant_count * backends * threads
    if cases > max_cases:
        raise doc.error(("sweep",) if shape_sweep or param_sweep else (),
                        f"up to {cases:,} cases (shapes x devices x variants x runtimes x thread counts), more than "
                        f"the limit of {max_cases:,}; raise it with --max-cases if that is meant")


def sweep_keys(variant: VariantRequest, sweep: dict) -> list[str]:
    """The sweep keys that set parameters of ``variant``."""
    takes = {p.name for p in get_variant(variant.name).params}
    return [k for k in sweep if k.rpartition(".")[0] in ("", variant.name)
            and all(n in takes for n in k.rpartition(".")[2].split(","))]


def split_sweep(doc: ConfigDocument, sweep, variants: list[VariantRequest]) -> tuple[dict, dict]:
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
            names = [v.name for v in variants]
            raise doc.error(path, f"no variant '{target}' in variants to sweep{suggest(target, names)}")
        for name in names.split(","):
            if not any(name in {p.name for p in get_variant(v.name).params} for v in takers):
                valid = [*SHAPE_KEYS, *sorted(params)]
                raise doc.error(path, f"unknown key '{name}': neither a shape key nor a parameter of "
                                      f"{target or 'any variant listed'}{suggest(name, valid)}")
        if not isinstance(values, list) or not values:
            raise doc.error(path, f"must be a non-empty list of values, e.g. {key}: [2, 4, 8]")
        param_sweep[key] = values
    for variant in variants:
        setters: dict[str, str] = {}
        for key in sweep_keys(variant, param_sweep):
            for name in key.rpartition(".")[2].split(","):
                if name in setters:
                    raise doc.error(("sweep", key), f"sets {variant.name}'s {name}, as sweep.{setters[name]} does; "
                                                    "keep one of them")
                setters[name] = key
    return shape_sweep, param_sweep


def sweep_variants(doc: ConfigDocument, variants: list[VariantRequest], sweep: dict,
                   max_cases: int) -> list[VariantRequest]:
    """Each variant once per combination of the swept parameters it takes; the label names them."""
    if not sweep:
        return variants
    expanded = []
    for variant in variants:
        spec = get_variant(variant.name)
        keys = sweep_keys(variant, sweep)
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


def parse_shapes(doc: ConfigDocument, data, sweep: dict, max_cases: int = MAX_CASES) -> list[Shape]:
    shapes = data.get("shapes")
    if not isinstance(shapes, list) or not shapes:
        raise doc.error(("shapes",), "must be a non-empty list of shapes, e.g. "
                                     "- {in_channels: 64, out_channels: 64, kernel_size: 3, size: 56}")
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise doc.error(("sweep", key), f"must be a non-empty list of values, e.g. {key}: [3, 5, 7]")
        for i, value in enumerate(values):
            expect_int(doc, ("sweep", key, i), value)
    combinations = len(shapes) * math.prod(len(values) for values in sweep.values())
    if combinations > max_cases:
        raise doc.error(("sweep",), f"expands to {combinations:,} shapes, more than the limit of {max_cases:,} "
                                    "cases; raise it with --max-cases if that is meant")
    expanded = []
    for i, raw in enumerate(shapes):
        path = ("shapes", i)
        check_keys(doc, path, raw, SHAPE_KEYS)
        base = dict(raw)
        for combo in itertools.product(*sweep.values()):
            values = {**base, **dict(zip(sweep, combo))}
            if "size" in sweep:  # a swept size overrides explicit height / width
                values.pop("height", None), values.pop("width", None)
            expanded.append(make_shape(doc, path, values))
    return list(dict.fromkeys(expanded))


def make_shape(doc: ConfigDocument, path: tuple, values: dict) -> Shape:
    for key, value in values.items():
        expect_int(doc, path + (key,), value)
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
