"""Case ids for the rows of runs saved before case ids existed, computed on load from what each row
and its part recorded, as :func:`convbench.plan.sharding.case_id` computes them for a new run, so
that merging an old run with a new one of the same cases keeps each case once.

A row gets an id only when everything the id depends on was recorded: the layer shape (a network's
rows are left without one), the variant and its parameters (from its label, ``octave(alpha_in=0.5,
alpha_out=0.5)``), the device, dtype, memory format, baseline and timing settings of its part. A
timing setting the run predates counts as off: ``min_span`` 0 (its rounds were not spread).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import yaml

from convbench.registry import get_variant
from convbench.store.records import missing_value
from convbench.store.schema import part_for
from convbench.plan.config import Shape, Suite, SuiteTiming, VariantRequest
from convbench.plan.sharding import case_id, session_key

SHAPE_COLUMNS = ("batch", "in_channels", "out_channels", "kernel_size", "stride", "height", "width")
PREDATED = {"min_span": 0.0}  # what a run that predates a timing setting did


def with_case_ids(df: pd.DataFrame, metadata: dict[str, Any]) -> pd.DataFrame:
    """``df`` with ``case_id`` and ``session`` filled in where they are missing and can be computed."""
    missing = df["case_id"].map(missing_value)
    if not missing.any():
        return df
    df = df.astype({"case_id": object, "session": object})  # an all-empty column reads as float
    for index in df.index[missing]:
        ids = _ids(df.loc[index].to_dict(), metadata)
        if ids:
            df.at[index, "case_id"], df.at[index, "session"] = ids
    return df


def _ids(row: dict[str, Any], metadata: dict[str, Any]) -> tuple[str, str] | None:
    if any(missing_value(row.get(key)) for key in (*SHAPE_COLUMNS, "variant", "label", "device")):
        return None
    part = part_for(metadata, row.get("config"), row.get("machine"))
    try:
        request = parse_label(str(row["label"]), str(row["variant"]))
        baseline = parse_label(str(part.get("baseline") or "conv"))
        workload = Shape(**{key: int(row[key]) for key in SHAPE_COLUMNS})
        timing = _timing(part.get("timing") or {})
    except (ValueError, TypeError, yaml.YAMLError):
        return None
    suite = Suite(name=str(row.get("config") or "run"), baseline=baseline, devices=[str(row["device"])],
                  dtype=str(row.get("dtype") or part.get("dtype") or "float32"),
                  memory_format=str(row.get("memory_format") or part.get("memory_format") or "contiguous"),
                  timing=timing, shapes=[workload], variants=[request])
    backend = "eager" if missing_value(row.get("backend")) else str(row["backend"])
    device = str(row["device"])
    return case_id(suite, workload, device, request, backend), session_key(suite, workload, device)


def parse_label(label: str, variant: str | None = None) -> VariantRequest:
    """``name(key=value, ...)`` as a request with those parameters, checked by the registry."""
    name, _, rest = label.partition("(")
    name = variant or name
    params: dict[str, Any] = {}
    if rest:
        for item in rest.rstrip(")").split(", "):
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"label {label!r}: {item!r} is not key=value")
            params[key] = yaml.safe_load(value)
    spec = get_variant(name)
    resolved = spec.resolve_params(params)
    return VariantRequest(spec.name, tuple((key, resolved[key]) for key in params))


def _timing(recorded: dict[str, Any]) -> SuiteTiming:
    known = {field.name for field in dataclasses.fields(SuiteTiming)}
    values = {**PREDATED, **{key: value for key, value in recorded.items() if key in known}}
    if isinstance(values.get("threads"), list):
        values["threads"] = tuple(values["threads"])
    return SuiteTiming(**values)
