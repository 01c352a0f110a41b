"""Sessions: several modules read in the same interleaved rounds, and comparisons drawn from them.

In each round every module is read for ``round_time`` seconds, in an order that rotates and
reverses from round to round, so drift of the machine falls on all of them alike. With
``processes > 1`` the rounds are spread over fresh worker processes run one after another.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
from torch import nn
import torch

from convbench.timing.contention import THRESHOLD, Contention, Probe, combine
from convbench.timing.settings import TimingSettings
from convbench.timing.state_probe import StateProbe
from convbench.timing.states import MachineStates, StateRatio, depends_on_state, machine_states, ratio_by_state
from convbench.timing.stats import CONFIDENCE, MARGIN, RatioEstimate, geometric_mean, paired_ratio
from convbench.timing.gpu_processes import mark_run_root
from convbench.timing.quiesce import settle
from convbench.timing.timer import PreparedCall, Timing, summary

__all__ = ["Comparison", "Session", "compare", "comparison", "time_session"]


@dataclass
class Comparison:
    """A variant timed against a baseline in interleaved rounds (variant, baseline, baseline,
    variant, ...), so drift of the machine falls on both alike.

    ``variant_ms`` / ``baseline_ms`` are the geometric means over rounds of each round's median,
    and ``estimate`` the paired ratio (see :mod:`convbench.timing.stats`), so
    ``variant_ms / baseline_ms == estimate.ratio``. ``contention`` is what other work took while
    either was read (see :mod:`convbench.timing.contention`); ``states`` what the state probe saw,
    ``state_ratios`` the ratio in each state it told apart, and ``unstable`` whether the ratio
    depends on the state or the machine drifted (see :mod:`convbench.timing.states`).
    """

    variant: Timing
    baseline: Timing
    variant_ms: float
    baseline_ms: float
    estimate: RatioEstimate
    round_ratios: list[float]
    contention: Contention | None = None
    states: MachineStates | None = None
    state_ratios: list[StateRatio] = field(default_factory=list)
    unstable: bool = False

    ratio = property(lambda self: self.estimate.ratio)
    ratio_low = property(lambda self: self.estimate.low)
    ratio_high = property(lambda self: self.estimate.high)
    p_value = property(lambda self: self.estimate.p_value)
    verdict = property(lambda self: self.estimate.verdict)
    significant = property(lambda self: self.estimate.significant)
    rounds = property(lambda self: self.estimate.rounds)

    def contended(self, threshold: float = THRESHOLD) -> bool:
        return self.contention is not None and self.contention.contended(threshold)

    def describe(self, variant: str = "variant", baseline: str = "baseline") -> str:
        text = self.estimate.describe(variant, baseline)
        if self.contended():
            text += f"; CONTENDED: {self.contention.describe()}"
        if self.unstable:
            text += f"; UNSTABLE: {self.states.describe()}"
            if self.state_ratios:
                text += "; per state: " + "; ".join(state.describe() for state in self.state_ratios)
        return text

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Session:
    """Several modules read in the same interleaved rounds.

    ``round_ms[i][r]`` is module ``i``'s median reading in round ``r``; ``round_process[r]`` the
    worker process round ``r`` ran in (0 when all ran here); ``contention[i][r]`` what other work
    took while module ``i`` was read in round ``r``; ``probe_ms[i][r]`` the state probe's reading
    just before it (at module ``i``'s threads, see :mod:`convbench.timing.state_probe`);
    ``round_start_s[r]`` when round ``r`` began (``time.time()``, seconds).
    """

    timings: list[Timing]
    round_ms: list[list[float]]
    round_process: list[int]
    contention: list[list[Contention]]
    probe_ms: list[list[float]] = field(default_factory=list)
    round_start_s: list[float] = field(default_factory=list)
    _states: dict = field(default_factory=dict, repr=False, compare=False)  # states_of, by thread count

    @property
    def span_s(self) -> float:
        """Seconds from the first round's start to the last round's start."""
        return self.round_start_s[-1] - self.round_start_s[0] if self.round_start_s else 0.0

    def latency_ms(self, i: int) -> float:
        """Module ``i``'s latency: the geometric mean over rounds of its per-round medians."""
        return geometric_mean(self.round_ms[i])

    def ratio(self, i: int, baseline: int, confidence: float = CONFIDENCE, margin: float = MARGIN) -> RatioEstimate:
        groups = self.round_process if len(set(self.round_process)) > 1 else None
        return paired_ratio(self.round_ms[i], self.round_ms[baseline], groups=groups,
                            confidence=confidence, margin=margin)

    def contention_of(self, *indices: int) -> Contention:
        """What other work took while any of ``indices`` was read, over all rounds."""
        return combine([c for i in indices for c in self.contention[i]])

    def states_of(self, i: int) -> MachineStates | None:
        """What the state probe saw in the rounds, at module ``i``'s threads: each round's level is
        the median of the probe's readings beside every module read at those threads."""
        if not self.probe_ms:
            return None
        threads = self.timings[i].threads
        if threads not in self._states:
            peers = [j for j, timing in enumerate(self.timings) if timing.threads == threads]
            levels = [float(np.median([self.probe_ms[j][r] for j in peers])) for r in range(len(self.round_ms[i]))]
            self._states[threads] = machine_states(levels, self.round_start_s or None)
        return self._states[threads]

    def ratio_by_state(self, i: int, baseline: int, confidence: float = CONFIDENCE,
                       margin: float = MARGIN) -> list[StateRatio]:
        """Module ``i`` against ``baseline`` in each machine state the probe told apart."""
        states = self.states_of(i)
        if states is None:
            return []
        return ratio_by_state(self.round_ms[i], self.round_ms[baseline], states, confidence, margin)

    def unstable(self, i: int, baseline: int, confidence: float = CONFIDENCE, margin: float = MARGIN) -> bool:
        """Module ``i``'s ratio to ``baseline`` is unstable: the machine drifted during the rounds,
        or changed state and the ratio depends on the state (:func:`depends_on_state`)."""
        states = self.states_of(i)
        if states is None:
            return False
        return states.drift or depends_on_state(self.round_ms[i], self.round_ms[baseline], states, confidence, margin)




def compare(
    variant: nn.Module,
    variant_inputs: tuple[torch.Tensor, ...],
    baseline: nn.Module,
    baseline_inputs: tuple[torch.Tensor, ...],
    *,
    rounds: int = 10,
    round_time: float = 0.1,
    confidence: float = CONFIDENCE,
    margin: float = MARGIN,
    processes: int = 1,
    **settings,
) -> Comparison:
    """Time ``variant`` against ``baseline`` interleaved, ``rounds`` rounds of ``round_time``
    seconds each (spread over ``processes`` fresh worker processes when > 1). ``settings`` are
    :func:`time_session`'s (``min_span``, and a ``settings`` or :class:`TimingSettings`' fields:
    device, dtype, memory_format, training, threads, ...)."""
    session = time_session([(variant, tuple(variant_inputs)), (baseline, tuple(baseline_inputs))],
                           rounds=rounds, round_time=round_time, processes=processes, **settings)
    return comparison(session, 0, 1, confidence, margin)


def comparison(session: Session, variant: int, baseline: int, confidence: float = CONFIDENCE,
               margin: float = MARGIN) -> Comparison:
    """Module ``variant`` of a session against module ``baseline`` of the same session."""
    return Comparison(
        variant=session.timings[variant], baseline=session.timings[baseline],
        variant_ms=session.latency_ms(variant), baseline_ms=session.latency_ms(baseline),
        estimate=session.ratio(variant, baseline, confidence, margin),
        round_ratios=[v / b for v, b in zip(session.round_ms[variant], session.round_ms[baseline])],
        contention=session.contention_of(variant, baseline),
        states=session.states_of(variant),
        state_ratios=session.ratio_by_state(variant, baseline, confidence, margin),
        unstable=session.unstable(variant, baseline, confidence, margin),
    )




def time_session(
    entries: list[tuple[nn.Module, tuple[torch.Tensor, ...]]],
    *,
    rounds: int = 10,
    round_time: float = 0.1,
    processes: int = 1,
    min_span: float = 0.0,
    on_round: Callable[[int, int], None] | None = None,
    settings: TimingSettings | None = None,
    **keywords,
) -> Session:
    """Read every ``(module, inputs)`` (or ``(module, inputs, backend)``) in ``entries`` once per
    round for ``round_time`` seconds,
    in an order that rotates and reverses from round to round, for ``rounds`` rounds.

    ``settings`` (or ``keywords``, :class:`TimingSettings`' fields) say how every module is
    prepared and read; an entry's own backend overrides ``settings.backend``, and an entry may
    also be ``(module, inputs, settings)`` (e.g. another thread count).

    Rounds start at least ``min_span / rounds`` seconds apart (the session waits between rounds
    that finish sooner), so that the rounds sample the machine over ``min_span`` seconds rather
    than one moment of it. Before every reading the state probe is read at the module's threads;
    before both, the session waits for the last reading's thread pools to stop spinning
    (:func:`convbench.timing.quiesce.settle`).

    With ``processes > 1`` the rounds are spread evenly over that many fresh worker processes, run
    one after another (never at once: they would contend), each of which prepares and warms up
    every module itself, so what differs between processes (memory layout, allocator state)
    enters the spread as it does between runs.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 2:
        raise ValueError(f"rounds={rounds!r} must be a whole number >= 2 for an interval")
    if not (isinstance(round_time, (int, float)) and math.isfinite(round_time) and round_time >= 0):
        raise ValueError(f"round_time={round_time!r} must be a finite number of seconds >= 0")
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"processes={processes!r} must be a whole number >= 1")
    if not (isinstance(min_span, (int, float)) and math.isfinite(min_span) and min_span >= 0):
        raise ValueError(f"min_span={min_span!r} must be a finite number of seconds >= 0")
    if not entries:
        raise ValueError("nothing to time")
    settings = settings or TimingSettings(**keywords)
    entries = [(entry[0], entry[1], _entry_settings(settings, entry[2]) if len(entry) > 2 else settings)
               for entry in entries]
    spacing = min_span / rounds
    if processes == 1:
        return _session_here(entries, rounds, round_time, on_round, spacing=spacing)
    return _session_in_processes(entries, rounds, round_time, processes, on_round, spacing)


def _entry_settings(settings: TimingSettings, own: str | TimingSettings) -> TimingSettings:
    return own if isinstance(own, TimingSettings) else settings.on(own)


def _session_here(entries, rounds: int, round_time: float, on_round, first_round: int = 0,
                  spacing: float = 0.0) -> Session:
    """The session in this process; ``first_round`` continues the reading order of earlier rounds
    (run in other processes); rounds start at least ``spacing`` seconds apart."""
    runners = [PreparedCall(module, inputs, settings) for module, inputs, settings in entries]
    n = len(runners)
    blocks: list[list[list[float]]] = [[] for _ in range(n)]
    calls = [0] * n
    contention: list[list[Contention]] = [[] for _ in range(n)]
    probe_ms: list[list[float]] = [[] for _ in range(n)]
    state_probe = StateProbe(runners[0].device)
    peaks = []
    for runner in runners:
        with runner.settings():
            runner.warm_up()
            peaks.append(runner.peak_memory())
            state_probe.warm_up()
    starts: list[float] = []
    for r in range(rounds):
        if starts:
            _wait_until(starts[-1] + spacing)  # a late round does not shorten the next gap
        starts.append(time.time())
        for i in _round_order(n, first_round + r):
            with runners[i].settings():
                settle()
                probe_ms[i].append(state_probe.read())
                settle()
                probe = Probe(runners[i].gpu_index)
                times, calls[i] = runners[i].readings(round_time, round_time * 4, adaptive=False)
                contention[i].append(probe.stop())
            blocks[i].append(times)
        if on_round:
            on_round(r + 1, rounds)
    timings = [runner.timing([t for block in per_round for t in block], c, peak, combine(cont))
               for runner, per_round, c, peak, cont in zip(runners, blocks, calls, peaks, contention)]
    round_ms = [[float(np.median(block)) for block in per_round] for per_round in blocks]
    return Session(timings=timings, round_ms=round_ms, round_process=[0] * rounds, contention=contention,
                   probe_ms=probe_ms, round_start_s=starts)


def _wait_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


def _round_order(n: int, r: int) -> list[int]:
    """Round ``r``'s reading order: rotated by ``r`` and reversed every other round, so no module
    is always read first or always right after the same neighbour."""
    order = [(i + r // 2) % n for i in range(n)]
    return order[::-1] if r % 2 else order


def _session_in_processes(entries, rounds: int, round_time: float, processes: int, on_round,
                          spacing: float = 0.0) -> Session:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from convbench.models.user import import_files, imported_files

    mark_run_root()  # the workers and this process are one run to the GPU probe
    shares = [rounds // processes + (p < rounds % processes) for p in range(processes)]  # exactly ``rounds`` in all
    parts: list[Session] = []
    context = multiprocessing.get_context("spawn")
    for p, share in enumerate(shares):
        if not share:
            continue
        with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=import_files,
                                 initargs=(imported_files(),)) as pool:  # the user's file.py networks and variants
            part = pool.submit(_session_here, entries, share, round_time, None, sum(shares[:p]), spacing).result()
        parts.append(part)
        if on_round:
            on_round(sum(shares[:p + 1]), rounds)
    n = len(entries)
    timings = []
    for i in range(n):
        times = [t for part in parts for t in part.timings[i].times_ms]
        first = parts[0].timings[i]
        merged = summary(times)
        timings.append(dataclasses.replace(
            first, median_ms=merged[0], iqr_ms=merged[1], runs=len(times), noisy=merged[2], times_ms=times,
            contention=combine([part.timings[i].contention for part in parts if part.timings[i].contention]),
            processes=len(parts)))  # workers that ran: more processes than rounds leaves some without one
    return Session(
        timings=timings,
        round_ms=[[ms for part in parts for ms in part.round_ms[i]] for i in range(n)],
        round_process=[p for p, part in enumerate(parts) for _ in part.round_process],
        contention=[[c for part in parts for c in part.contention[i]] for i in range(n)],
        probe_ms=[[ms for part in parts for ms in part.probe_ms[i]] for i in range(n)],
        round_start_s=[start for part in parts for start in part.round_start_s],
    )


