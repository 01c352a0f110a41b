"""What a row is made of, typed: a case's counts, its timing and what other work did meanwhile
(and, from its runtime, :class:`convbench.backends.runtime.RuntimeFacts`). Each record's fields
are the row's columns of the same names, in order; the schema takes the columns and their kinds
from here (:mod:`convbench.store.schema`), and a row gets them by ``columns()``."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any


def column_names(record: type) -> list[str]:
    """A record's columns, in order: its fields."""
    return [f.name for f in dataclasses.fields(record)]


def column_kinds(record: type) -> dict[str, str]:
    """Each column's kind (integer, number, text or flag), from the type of its record's field."""
    kinds = {}
    for name, hint in typing.get_type_hints(record).items():
        args = set(typing.get_args(hint)) if isinstance(hint, types.UnionType) else {hint}
        kinds[name] = "flag" if bool in args else "integer" if int in args else "text" if str in args else "number"
    return kinds


class Record:
    """A block of a row's columns."""

    def columns(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CountRecord(Record):
    """A case's counts (:class:`convbench.counting.Cost`), its variant's closed-form ones, and how
    each check came out: ``formula_check`` against the formula, ``count_check`` against ptflops and
    torchsummary."""

    params: int | None
    fixed_weights: int | None
    macs: int | None
    flops: int | None
    kmac_per_pixel: float | None
    elem_ops: int | None
    activation_bytes: int | None
    bytes_moved: int | None
    arithmetic_intensity: float | None
    per: str | None
    batch_dim: int | None
    batch_source: str | None
    macs_int8: int | None
    count_depends_on: str
    macs_backward: int | None
    macs_train_step: int | None
    activation_memory_bytes: int | None
    saved_for_backward_bytes: int | None
    params_formula: int | None
    macs_formula: int | None
    formula_check: str
    macs_ptflops: int | None
    macs_ptflops_aten: int | None
    params_torchsummary: int | None
    count_check: str | None


@dataclass(frozen=True)
class TimingRecord(Record):
    """A case's latency as its session read it: the geometric mean of its rounds' medians, the IQR
    of its readings, how many readings, rounds and worker processes, and how it was read."""

    latency_ms: float
    latency_iqr_ms: float
    runs: int
    rounds: int
    processes: int
    noisy: bool
    timing_method: str


@dataclass(frozen=True)
class ContentionRecord(Record):
    """What other work took while the case and its baseline were read (in cores' worth), whether
    that is above the threshold, the attempts it took, and over how long the rounds were spread."""

    contention: float
    contended: bool
    cpu_steal: float | None
    load_avg: float | None
    gpu_other_processes: int | None
    timing_attempts: int
    span_s: float
