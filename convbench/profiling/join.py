"""A runtime's per-op times joined with the counted ops: each span of a profile
(:class:`~convbench.backends.profiled.RuntimeProfile`) gets the MACs and bytes of the ops it ran
(:func:`~convbench.counting.per_op.op_costs`), where the two can be told to be the same ops.

Where the runtime runs ATen ops (eager, ``torch.compile``'s calls out of its graphs), a counted
op joins the span that ran an op of its name, in its module where the spans name one. Elsewhere
the runtime's ops are its own (ONNX nodes, OpenVINO nodes, XNNPACK ops): its multiplying spans
(convolutions, matrix products) take the counted multiplying ops in the order both ran, in each
module where the runtime names modules; where their numbers differ (a runtime that fuses two
convolutions, or splits one) the MACs stay on no span and :attr:`ProfileTable.unjoined_macs`
says how many. A span that does not multiply does no MACs; its bytes are known only where it
ran counted ops."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from dataclasses import dataclass

from convbench.backends.profiled import MULTIPLY, OTHER, RUNTIME, OpSpan, RuntimeProfile
from convbench.counting.per_op import OpCost


@dataclass(frozen=True)
class OpRow:
    """One span with its share of the profiled end-to-end time and, where joined, the MACs and
    bytes moved of the ops it ran (per model call, for the whole batch); None where not known."""

    op: str
    kind: str
    module: str | None
    calls: int
    seconds: float
    share: float
    macs: int | None
    bytes_moved: int | None

    @property
    def macs_per_byte(self) -> float | None:
        return self.macs / self.bytes_moved if self.macs is not None and self.bytes_moved else None


@dataclass(frozen=True)
class ProfileTable:
    """A profile's rows, its end-to-end time, and what the join could not place."""

    runtime: str
    source: str
    rows: tuple[OpRow, ...]
    end_to_end_s: float
    calls: int
    warmup: int
    maps_modules: bool
    macs: int  # every counted op's, per model call
    unjoined_macs: int

    @property
    def accounted_share(self) -> float:
        """The share of the end-to-end time the rows account for (above 1 where they add up to more)."""
        return sum(row.seconds for row in self.rows) / self.end_to_end_s if self.end_to_end_s else 0.0

    @property
    def unaccounted_s(self) -> float:
        return self.end_to_end_s - sum(row.seconds for row in self.rows)

    @property
    def unaccounted_share(self) -> float:
        """The share of the end-to-end time outside every row (negative where they add up to more)."""
        return self.unaccounted_s / self.end_to_end_s if self.end_to_end_s else 0.0

    @property
    def op_share(self) -> float:
        """The share in ops, the runtime's own work (dispatch, Python, wrappers) left out."""
        return sum(row.share for row in self.rows if row.kind != RUNTIME)

    @property
    def runtime_share(self) -> float:
        """The share in the runtime's own work that its profiler reports (dispatch, Python, wrappers)."""
        return sum(row.share for row in self.rows if row.kind == RUNTIME)

    @property
    def module_share(self) -> float | None:
        """The share in spans that name a module below the model (None where no span can)."""
        if not self.maps_modules:
            return None
        return sum(row.share for row in self.rows if row.module)

    def top(self) -> OpRow | None:
        return max(self.rows, key=lambda row: row.seconds, default=None)

    def to_json(self) -> str:
        """The table as JSON text, as a results row carries it (:meth:`from_json` reads it back)."""
        fields = dataclasses.asdict(self)
        fields["rows"] = [[getattr(row, f.name) for f in dataclasses.fields(OpRow)] for row in self.rows]
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ProfileTable:
        """A table from :meth:`to_json`'s text; a ValueError in one line if it is not one."""
        try:
            fields = json.loads(text)
            rows = tuple(OpRow(*row) for row in fields.pop("rows"))
            return cls(rows=rows, **fields)
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            raise ValueError(f"not a profile table ({type(error).__name__}: {error})") from None


def joined(profile: RuntimeProfile, costs: list[OpCost]) -> ProfileTable:
    """The profile's spans as rows with the counted ops' MACs and bytes (see the module's text)."""
    spans = list(profile.spans)
    if any(span.aten_ops for span in spans):
        macs, moved, unjoined = _by_aten_name(spans, costs, profile.maps_modules)
        # an ATen span multiplies when the ops it ran did MACs, whatever its name suggests
        spans = [span if span.kind == RUNTIME else dataclasses.replace(span, kind=MULTIPLY if macs[i] else OTHER)
                 for i, span in enumerate(spans)]
    else:
        macs, moved, unjoined = _in_order(spans, costs, profile.maps_modules)
    total = profile.end_to_end_s
    rows = tuple(OpRow(span.op, span.kind, span.module, span.calls, span.seconds,
                       span.seconds / total if total else 0.0, macs[i], moved[i]) for i, span in enumerate(spans))
    return ProfileTable(profile.runtime, profile.source, rows, total, profile.calls, profile.warmup,
                        profile.maps_modules, sum(cost.macs for cost in costs), unjoined)


def _by_aten_name(spans: list[OpSpan], costs: list[OpCost], by_module: bool):
    """Each counted op to the first span that ran an op of its name (in its module, where spans
    name one) and has not yet taken as many multiplying ops as it has calls."""
    macs: list[int | None] = [None if span.kind == RUNTIME else 0 for span in spans]
    moved: list[int | None] = [None if span.kind == RUNTIME else 0 for span in spans]
    taken = [0] * len(spans)
    unjoined = 0
    for cost in costs:
        candidates = [i for i, span in enumerate(spans) if cost.op in span.aten_ops
                      and (not by_module or span.module == cost.module)]
        if cost.macs:
            candidates = [i for i in candidates if taken[i] < spans[i].calls] or candidates[-1:]
        if not candidates:
            unjoined += cost.macs
            continue
        i = candidates[0]
        taken[i] += bool(cost.macs)
        macs[i] += cost.macs
        moved[i] += cost.bytes_moved
    return macs, moved, unjoined


def _in_order(spans: list[OpSpan], costs: list[OpCost], by_module: bool):
    """Multiplying spans and counted multiplying ops paired in the order they ran, per module
    where the spans name modules; a group whose numbers differ is left unjoined."""
    macs: list[int | None] = [0 if span.kind not in (MULTIPLY, RUNTIME) else None for span in spans]
    moved: list[int | None] = [None] * len(spans)
    span_groups: dict = defaultdict(list)
    for i, span in enumerate(spans):
        if span.kind == MULTIPLY:
            span_groups[span.module if by_module else None].append(i)
    cost_groups: dict = defaultdict(list)
    for cost in costs:
        if cost.macs:
            cost_groups[cost.module if by_module else None].append(cost)
    unjoined = 0
    for key in set(span_groups) | set(cost_groups):
        indices, group = span_groups.get(key, []), cost_groups.get(key, [])
        if sum(spans[i].calls for i in indices) != len(group):
            unjoined += sum(cost.macs for cost in group)
            continue
        position = 0
        for i in indices:
            taken = group[position:position + spans[i].calls]
            position += spans[i].calls
            macs[i] = sum(cost.macs for cost in taken)
            moved[i] = sum(cost.bytes_moved for cost in taken)
    return macs, moved, unjoined


def by_module(table: ProfileTable) -> ProfileTable:
    """The table with one row per module: its spans' times, shares, MACs and bytes added up (a
    sum is None where a part of it is unknown); a ValueError where the spans name no module."""
    if not table.maps_modules:
        raise ValueError(f"{table.runtime}'s profiler names no module of its ops: per op only")
    groups: dict[str, list[OpRow]] = {}
    for row in table.rows:
        groups.setdefault(row.module or "", []).append(row)

    def total(values):
        values = list(values)
        return None if any(v is None for v in values) else sum(values)

    rows = tuple(OpRow(f"{len(rows)} spans", MULTIPLY if any(r.macs for r in rows) else
                       (RUNTIME if all(r.kind == RUNTIME for r in rows) else OTHER), module,
                       sum(r.calls for r in rows), sum(r.seconds for r in rows), sum(r.share for r in rows),
                       total(r.macs for r in rows if r.kind != RUNTIME),
                       total(r.bytes_moved for r in rows if r.kind != RUNTIME)) for module, rows in groups.items())
    return dataclasses.replace(table, rows=rows)
