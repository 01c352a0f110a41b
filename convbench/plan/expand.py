"""A run's plan: a validated suite expanded, once, into the sessions and cases it will time.

A *case* is one variant on one workload and device, at one point of the run's axes (runtime,
thread count, precision); a *session* is every case of one workload on one device, timed
together in interleaved rounds. The plan is the only place the axes are expanded: the case limit,
shards, ``--resume``, the progress bar, the runner's grouping and ExecuTorch's sittings all read it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

from convbench import backends
from convbench.plan.config import ModelWorkload, Shape, Suite, VariantRequest
from convbench.plan.sharding import Shard, case_id, session_key

Workload = Shape | ModelWorkload


@dataclass(frozen=True)
class Axis:
    """Where a case is timed: on a runtime, at a thread count (None: torch's), in a precision."""

    backend: str
    threads: int | None
    dtype: str


@dataclass(frozen=True)
class PlannedCase:
    """One case, with the ids of the cases its ratios are taken against: the baseline at the same
    axis (itself for the baseline), the same variant on eager PyTorch at the same threads and
    precision (for another runtime), and on its own runtime in float32 (for another precision)."""

    case_id: str
    request: VariantRequest
    axis: Axis
    is_baseline: bool
    baseline_id: str
    eager_id: str | None = None
    float32_id: str | None = None
    threads_vary: bool = False  # the suite times several thread counts


@dataclass(frozen=True)
class PlannedSession:
    """Every case of one workload on one device, the baseline's first; ``position`` is its place
    in the suite (what shards deal out), ``sittings`` the case ids timed together in one process's
    rounds (all of them, unless a runtime's thread pool is process-wide)."""

    position: int
    key: str
    workload: Workload
    device: str
    requests: tuple[VariantRequest, ...]
    cases: tuple[PlannedCase, ...]
    sittings: tuple[tuple[str, ...], ...]

    def cases_of(self, request: VariantRequest) -> tuple[PlannedCase, ...]:
        return tuple(case for case in self.cases if case.request == request)


@dataclass(frozen=True)
class Plan:
    """The sessions a run of ``suite`` times, in order."""

    suite: Suite
    sessions: tuple[PlannedSession, ...]
    axes: tuple[Axis, ...]

    @property
    def cases(self) -> list[PlannedCase]:
        return [case for session in self.sessions for case in session.cases]

    @property
    def case_ids(self) -> set[str]:
        return {case.case_id for case in self.cases}

    @property
    def keys(self) -> list[str]:
        return [session.key for session in self.sessions]

    def shard(self, shard: Shard | None) -> Plan:
        """This shard's share of the sessions (all of them without one)."""
        if shard is None:
            return self
        return replace(self, sessions=tuple(s for s in self.sessions if shard.takes(s.position)))

    def without_held(self, held: set[str]) -> tuple[Plan, int]:
        """The plan less the sessions whose every case ``held`` holds, and how many those were."""
        kept = tuple(s for s in self.sessions if not {c.case_id for c in s.cases} <= held)
        return replace(self, sessions=kept), len(self.sessions) - len(kept)


def make_plan(suite: Suite) -> Plan:
    """Every session and case of ``suite``: workloads in config order (layer shapes, then
    networks), then devices; within a session the baseline first, then the variants in config
    order, each at every runtime x thread count x precision."""
    counts = suite.timing.thread_counts
    several_threads, several_dtypes = len(counts) > 1, len(suite.precisions) > 1
    axes = tuple(Axis(backend, threads, dtype) for backend in suite.backends for threads in counts
                 for dtype in suite.precisions)
    requests = tuple(dict.fromkeys([suite.baseline, *suite.variants]))
    sessions = []
    for workload in [*suite.shapes, *suite.models]:
        for device in suite.devices:
            identify = partial(_case_id, suite, workload, device, several_threads, several_dtypes)
            cases = tuple(_case(identify, request, axis, suite.baseline, set(axes), several_threads)
                          for request in requests for axis in axes)
            sessions.append(PlannedSession(len(sessions), session_key(suite, workload, device), workload, device,
                                           requests, cases, _sittings(cases, counts)))
    return Plan(suite, tuple(sessions), axes)


def _case_id(suite: Suite, workload: Workload, device: str, several_threads: bool, several_dtypes: bool,
             request: VariantRequest, axis: Axis) -> str:
    """The case's id: the thread count and precision are in it only where the suite has several."""
    return case_id(suite, workload, device, request, axis.backend, axis.threads if several_threads else None,
                   axis.dtype if several_dtypes else None)


def _case(identify, request: VariantRequest, axis: Axis, baseline: VariantRequest, timed: set[Axis],
          threads_vary: bool) -> PlannedCase:
    """The case at ``axis``, with its counterparts' ids where ``timed`` (the suite's axes) has them."""
    eager = replace(axis, backend=backends.DEFAULT)
    float32 = replace(axis, dtype="float32")
    return PlannedCase(
        identify(request, axis), request, axis, request == baseline, identify(baseline, axis),
        eager_id=identify(request, eager) if eager != axis and eager in timed else None,
        float32_id=identify(request, float32) if float32 != axis and float32 in timed else None,
        threads_vary=threads_vary)


def _sittings(cases: tuple[PlannedCase, ...], counts: list[int | None]) -> tuple[tuple[str, ...], ...]:
    """All cases in one sitting, except where a runtime's thread pool is process-wide
    (ExecuTorch's XNNPACK): then each thread count is a sitting of its own, so that every ratio a
    row gives stays within one thread count."""
    if len(counts) > 1 and any(backends.runtime(c.axis.backend).process_wide_thread_pool for c in cases):
        return tuple(tuple(c.case_id for c in cases if c.axis.threads == n) for n in counts)
    return (tuple(c.case_id for c in cases),)
