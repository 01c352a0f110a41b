"""Running a suite: each case built and counted, then the cases of one workload on one device
timed together, interleaved with their baseline, and their measurements filled in.

A case that fails gives a row saying why (see :mod:`convbench.suite.cases`); the run goes on.
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from typing import Any, Callable, Iterator

from convbench import backends
from convbench.suite.training_split import split_step
from convbench.plan.config import ModelWorkload, Suite, resolve_device
from convbench.plan.expand import Plan, PlannedSession
from convbench.store.ratios import BASELINE, FLOAT32
from convbench.store.records import ContentionRecord, Measurement, StateRecord, TimingRecord
from convbench.suite.cases import Case, Workload, on_axis, prepare
from convbench.suite.cross_runtime import check_output, compare_with_eager
from convbench.suite.profiles import profile_cases
from convbench.suite.roofline import cached_peaks, roofline_record
from convbench.timing import Session, TimingSettings, check_runs, time_session
from convbench.timing.contention import ContendedError, Contention, UnstableError
from convbench.timing.states import STATE_GAP


def run_suite(plan: Plan, measure_time: bool = True,
              on_case: Callable[[int, int, str], None] | None = None) -> Iterator[tuple[Measurement, dict]]:
    """Yield ``(measurement, raw)`` for every case of the plan, in order; ``raw`` holds the raw
    timings for JSON.

    The cases of one session (a shape or network on one device) are built and counted, then timed
    together in interleaved rounds with their baseline, so the baseline's latency and every ratio
    come from the same rounds. With ``timing.on_contention: fail`` (or ``on_instability: fail``) a
    contended (or unstable) session raises :class:`ContendedError` after its measurements are yielded.
    """
    suite = plan.suite
    total = len(plan.cases)
    points = dict.fromkeys((axis.threads, axis.dtype) for axis in plan.axes)
    peaks = {(device, threads, dtype): cached_peaks(resolve_device(device), dtype, threads)
             for device in suite.devices for threads, dtype in points} if measure_time else {}
    done = 0
    for session in plan.sessions:
        device = resolve_device(session.device)
        prepared = []
        for request in session.requests:
            if on_case:
                on_case(done, total, f"{request.label} on {session.workload.label} ({session.device}): counting")
            counted = prepare(suite, session, device, request)
            planned = session.cases_of(request)
            prepared += [on_axis(counted, case) for case in planned]
            done += len(planned)
        _count_ratios(prepared)
        refused = None
        if measure_time:
            def on_round(r: int, rounds: int) -> None:
                if on_case:
                    on_case(done, total, f"timing {session.workload.label} ({session.device}): round {r}/{rounds}")
            device_peaks = {(threads, dtype): found for (name, threads, dtype), found in peaks.items()
                            if name == session.device}
            refused = _time_group(suite, device, session, prepared, device_peaks, on_round)
        for case in prepared:
            yield case.measurement, case.raw
        if refused:
            raise refused


def _count_ratios(prepared: list[Case]) -> None:
    """Each counted case's params and MACs against its baseline's."""
    by_id = {case.planned.case_id: case for case in prepared}
    for case in prepared:
        baseline = by_id[case.planned.baseline_id].built
        if baseline is not None and case.built is not None:
            cost, base = case.built.cost, baseline.cost
            case.measurement.params_vs_baseline = cost.params / base.params if base.params else None
            case.measurement.macs_vs_baseline = cost.macs / base.macs if base.macs else None


def _time_group(suite: Suite, device: str, session: PlannedSession, prepared: list[Case], peaks: dict,
                on_round: Callable[[int, int], None]) -> ContendedError | None:
    """Time every built case of one workload together; fill their rows. Returns the error to raise
    when the session was contended (unstable) and ``on_contention`` (``on_instability``) is ``fail``."""
    t = suite.timing
    workload = session.workload

    def settings_of(case: Case) -> TimingSettings:
        settings = t.settings(device, case.dtype, suite.memory_format, case.threads).on(case.backend)
        return dataclasses.replace(settings, input_grad=False) if isinstance(workload, ModelWorkload) else settings

    references: dict[tuple, Any] = {}  # eager outputs, by module, thread count and dtype
    for case in prepared:
        if case.built is None:
            continue
        try:
            settings = settings_of(case)
            report: dict = {}
            output = check_runs(case.built.module, case.built.inputs, settings=settings, report=report)
            case.measurement.runtime = backends.RuntimeFacts(**report)
            if not t.training:
                check_output(case, output, references, settings)
        except backends.BackendCannotTake as error:  # e.g. an op the runtime lacks: a skipped row
            case.measurement.failed("skipped", str(error), traceback.format_exc())
            case.built = None
        except Exception as error:  # this case cannot be timed with these settings; the others can
            case.measurement.failed("error", f"{type(error).__name__}: {error}", traceback.format_exc())
            case.built = None
    timed = [c for c in prepared if c.built is not None]
    refused = None
    for ids in session.sittings:
        sitting = [c for c in timed if c.planned.case_id in ids]
        if sitting:
            refused = _time_sitting(suite, device, workload, sitting, peaks, on_round, settings_of) or refused
    if t.profile:  # after every reading: profiling perturbs what it reads
        profile_cases(timed, device, settings_of)
    return refused


def _time_sitting(suite: Suite, device: str, workload: Workload, timed: list[Case], peaks: dict,
                  on_round: Callable[[int, int], None],
                  settings_of: Callable[[Case], TimingSettings]) -> ContendedError | None:
    """Time ``timed`` in one interleaved session and fill their rows."""
    t = suite.timing
    index = {c.planned.case_id: i for i, c in enumerate(timed)}
    bases = [index.get(c.planned.baseline_id) for c in timed]  # None: the baseline was not timed
    to_eager = {i: index[c.planned.eager_id] for i, c in enumerate(timed) if c.planned.eager_id in index}
    to_float32 = {i: index[c.planned.float32_id] for i, c in enumerate(timed) if c.planned.float32_id in index}
    entries = [(c.built.module, c.built.inputs, settings_of(c)) for c in timed]
    if t.training:  # each step's forward alone, read in the same rounds: the backward is the difference
        entries += [(c.built.module, c.built.inputs, settings_of(c).forward_of_step()) for c in timed]
    threshold = t.contention_threshold
    attempts = 0
    while True:
        attempts += 1
        try:
            session = time_session(entries, rounds=t.rounds, round_time=t.min_time / t.rounds, processes=t.processes,
                                   min_span=t.min_span, on_round=on_round)
        except Exception as error:  # e.g. out of memory: every case of the session gets the error
            for c in timed:
                c.measurement.failed("error", f"{type(error).__name__}: {error}", traceback.format_exc())
            return None
        contentions = [session.contention_of(*{i, i if bases[i] is None else bases[i]}) for i, c in enumerate(timed)]
        worst = max(contentions, key=lambda c: c.cores)
        unstable = _unstable(session, timed, bases, peaks, t.confidence, t.margin)
        retry = ((worst.contended(threshold) and t.on_contention == "retry")
                 or (any(unstable) and t.on_instability == "retry"))
        if not retry or attempts > t.retries:
            break
        time.sleep(RETRY_PAUSE_S)
    for i, case in enumerate(timed):
        _fill_timing(case, session, i, bases[i], contentions[i], threshold, attempts, suite,
                     unstable[i])
        measurement = case.measurement
        if i in to_eager:
            compare_with_eager(measurement, session, i, to_eager[i], t.confidence, t.margin)
        if i in to_float32:
            measurement.ratios[FLOAT32] = session.ratio(i, to_float32[i], t.confidence, t.margin)
        measurement.roofline = roofline_record(case.built.cost.macs, case.built.cost.bytes_moved, workload.batch,
                                               measurement.timing.latency_ms, peaks.get((case.threads, case.dtype)))
        if t.training:
            base = bases[i]
            measurement.split, split_ratios = split_step(session, i, len(timed) + i, base,
                                                         None if base is None else len(timed) + base,
                                                         t.confidence, t.margin)
            measurement.ratios.update(split_ratios)
    if t.on_contention == "fail" and worst.contended(threshold):
        return ContendedError(f"{workload.label} ({device}) was timed under contention: {worst.describe()}, "
                              f"above the threshold of {threshold:g} cores; rerun on a quiet machine (or set "
                              "timing.on_contention: mark)")
    if t.on_instability == "fail" and any(unstable):
        first = next(case.measurement for case, reason in zip(timed, unstable) if reason)
        return UnstableError(f"{workload.label} ({device}): {first.case.label}: {first.state.instability}; rerun when "
                             "the machine is steady (or set timing.on_instability: mark)")
    return None


RETRY_PAUSE_S = 1.0


def _unstable(session: Session, timed: list[Case], bases: list[int | None], peaks: dict, confidence: float,
              margin: float) -> list[str | None]:
    """Why each row is unstable, or None: the machine drifted or changed state in a way its ratio
    depends on (:meth:`Session.unstable`), or most of the session's rounds were in another state
    than the calibrated one (its median probe level :data:`STATE_GAP` or more from the level
    ``env --calibrate`` cached: a blend weighted to another state, even where too few rounds of
    the calibrated state were read to test the dependence). A baseline is unstable when any row
    timed against it is."""
    reasons: list[str | None] = []
    for i, case in enumerate(timed):
        states = session.states_of(i)
        reference = (peaks.get((case.threads, case.dtype)) or {}).get("state_probe_ms")
        reason = None
        if states is not None and session.unstable(i, i if bases[i] is None else bases[i], confidence, margin):
            reason = "the ratio depends on the state" if states.states > 1 else "the machine drifted"
        elif states is not None and reference and abs(math.log(states.level_ms / reference)) >= STATE_GAP:
            reason = (f"another machine state than calibrated: state probe {states.level_ms:.3g} ms against "
                      f"{reference:.3g} ms ({states.level_ms / reference:.2f}x)")
        reasons.append(reason)
    for i, case in enumerate(timed):
        if case.is_baseline and reasons[i] is None:
            reasons[i] = next((r for j, r in enumerate(reasons) if r and bases[j] == i), None)
    return reasons


def _fill_timing(case: Case, session: Session, i: int, base: int | None, contention: Contention,
                 threshold: float, attempts: int, suite: Suite, unstable: str | None) -> None:
    timing = session.timings[i]
    measurement = case.measurement
    measurement.case = dataclasses.replace(measurement.case, threads=timing.threads)
    measurement.timing = TimingRecord(latency_ms=session.latency_ms(i), latency_iqr_ms=timing.iqr_ms,
                                      runs=timing.runs, rounds=len(session.round_ms[i]), processes=timing.processes,
                                      noisy=timing.noisy, timing_method=timing.method)
    measurement.peak_memory_bytes = timing.peak_memory_bytes
    measurement.contention = ContentionRecord(contention=contention.cores, contended=contention.contended(threshold),
                                              cpu_steal=contention.steal, load_avg=contention.load_avg,
                                              gpu_other_processes=contention.gpu_other_processes,
                                              timing_attempts=attempts, span_s=session.span_s)
    case.raw = {"round_ms": session.round_ms[i], "round_process": session.round_process,
                "timing_ms": timing.times_ms,
                "round_contention": [c.cores for c in session.contention[i]]}
    states = session.states_of(i)
    if states is not None:
        measurement.state = StateRecord(
            state_probe_ms=states.level_ms, state_probe_spread=states.spread, unstable=unstable is not None,
            instability=states.describe() + (f"; {unstable}" if unstable and not states.drift else ""))
        case.raw.update(round_probe_ms=list(states.round_levels_ms), round_state=list(states.labels),
                        round_start_s=[start - session.round_start_s[0] for start in session.round_start_s])
    if base is None:
        return
    if i == base:
        measurement.latency_vs_baseline = measurement.params_vs_baseline = measurement.macs_vs_baseline = 1.0
        return
    measurement.ratios[BASELINE] = session.ratio(i, base, suite.timing.confidence, suite.timing.margin)
    case.raw["round_ratios"] = [v / b for v, b in zip(session.round_ms[i], session.round_ms[base])]
    if session.probe_ms:
        by_state = session.ratio_by_state(i, base, suite.timing.confidence, suite.timing.margin)
        measurement.state_ratios = "; ".join(state.describe() for state in by_state) or "one state"
