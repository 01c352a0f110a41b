"""What a row is made of, typed: which case it is, its counts, its timing, what other work did
meanwhile, the machine's state, and so on (and, from its runtime,
:class:`convbench.backends.runtime.RuntimeFacts`); a :class:`Measurement` holds one case's records
and ratio estimates and is flattened into the row by :meth:`Measurement.row`, where it is stored.
Each record's fields are the row's columns of the same names, in order; the schema takes the
columns and their kinds from here (:mod:`convbench.store.schema`)."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from convbench.backends.runtime import RuntimeFacts


def missing_value(value) -> bool:
    """None, NaN or an empty string: a value that does not apply or was not measured."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


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
class CaseRecord(Record):
    """Which case a row is: its id, session, machine and run, the config, workload and variant, and
    the axes it was measured on (``threads`` where they vary or once timed)."""

    case_id: str | None
    session: str | None
    machine: str | None
    run: str | None
    config: str
    shape: str
    variant: str
    label: str
    batch: int | None
    in_channels: int | None
    out_channels: int | None
    kernel_size: int | None
    stride: int | None
    height: int | None
    width: int | None
    device: str
    backend: str
    dtype: str
    memory_format: str
    mode: str
    threads: int | None = None


@dataclass(frozen=True)
class SwapRecord(Record):
    """A network's convs swapped for the variant: how many, and those kept with why."""

    convs_replaced: int
    convs_kept: int
    convs_kept_why: str


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
    macs_recomputed: int | None
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


@dataclass(frozen=True)
class SplitRecord(Record):
    """A training step split: its forward read alone in the same rounds, and the backward as the
    step less the forward (a mean difference with its interval)."""

    latency_forward_ms: float
    latency_backward_ms: float
    latency_backward_low_ms: float
    latency_backward_high_ms: float


@dataclass(frozen=True)
class PoolRecord(Record):
    """Several runs of one case pooled into one row (``merge --pool``): how many, the range of
    their latencies and their ratios."""

    pooled_runs: int | None
    latency_min_ms: float | None
    latency_max_ms: float | None
    run_ratios: str | None


@dataclass(frozen=True)
class RooflineRecord(Record):
    """What a case reached (GMAC/s, GB/s), the least time the machine's calibrated peaks allow and
    the share of that bound it reached (None without a calibration)."""

    gmacs_per_s: float | None
    gbytes_per_s: float | None
    roofline_bound_ms: float | None
    roofline_fraction: float | None


@dataclass(frozen=True)
class OutputCheck(Record):
    """A runtime's output held against eager PyTorch's: the largest absolute and relative
    difference, or in int8 the signal-to-quantization-noise ratio against float32 (dB)."""

    backend_max_abs_diff: float | None = None
    backend_max_rel_diff: float | None = None
    quant_sqnr_db: float | None = None

    def columns(self) -> dict[str, Any]:
        return {name: value for name, value in dataclasses.asdict(self).items() if value is not None}


@dataclass(frozen=True)
class StateRecord(Record):
    """The machine's state while a case was read: the state probe's median level and spread, and
    whether its ratio is unstable, with why."""

    state_probe_ms: float
    state_probe_spread: float
    unstable: bool
    instability: str


@dataclass(frozen=True)
class ProfileRecord(Record):
    """Where one call's time went, by the runtime's own profiler, read after the timing and never
    on a timed call: the profiled end-to-end latency (mean of ``profile_calls`` calls), the shares
    of it in ops, in the runtime's own work and outside every op, the op that took most and its
    share, the line on what dominates, the MACs no op could be joined with, and the per-op table
    as JSON (:meth:`convbench.profiling.ProfileTable.to_json`)."""

    profiled_latency_ms: float | None = None
    profile_calls: int | None = None
    profile_op_share: float | None = None
    profile_runtime_share: float | None = None
    profile_unaccounted_share: float | None = None
    profile_top_op: str | None = None
    profile_top_share: float | None = None
    profile_why: str | None = None
    profile_unjoined_macs: int | None = None
    profile_source: str | None = None
    profile_ops: str | None = None
    profile_error: str | None = None  # why the case could not be profiled


@dataclass
class Measurement:
    """One case's row as records, filled in as the case is built, counted and timed; ``ratios``
    holds each comparison's estimate by its columns (:mod:`convbench.store.ratios`), and
    ``traceback`` goes with a failed row into the journal only."""

    case: CaseRecord
    status: str = "ok"
    error: str = ""
    traceback: str | None = None
    swaps: SwapRecord | None = None
    count: CountRecord | None = None
    params_vs_baseline: float | None = None
    macs_vs_baseline: float | None = None
    runtime: RuntimeFacts | None = None
    output: OutputCheck | None = None
    timing: TimingRecord | None = None
    peak_memory_bytes: int | None = None
    split: SplitRecord | None = None
    roofline: RooflineRecord | None = None
    contention: ContentionRecord | None = None
    state: StateRecord | None = None
    profile: ProfileRecord | None = None
    ratios: dict[Any, Any] = dataclasses.field(default_factory=dict)  # RatioColumns -> RatioEstimate
    latency_vs_baseline: float | None = None  # 1.0 on the baseline's own row, which has no estimate
    state_ratios: str | None = None
    eager_ratio_note: str | None = None

    def failed(self, status: str, error: str, trace: str | None) -> None:
        self.status, self.error, self.traceback = status, error, trace

    def row(self) -> dict[str, Any]:
        """The row: every record's columns and every estimate's, flat (unset parts left out)."""
        row: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "ratios":
                for columns, estimate in value.items():
                    row.update(columns.flatten(estimate))
            elif hasattr(value, "columns"):
                row.update(value.columns())
            elif value is not None:
                row[field.name] = value
        return row
