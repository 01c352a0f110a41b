"""Measuring suites into a run directory: a progress bar, rows saved as they come, shards and resumes.

One call of :func:`record` is one run: every suite (config) given goes into the same directory,
each as a *part* with its own metadata. A shard runs its share of each suite's sessions; a resumed
run keeps the directory's rows and runs only the sessions it lacks (a session cut short is timed
again whole, since its ratios need the baseline's readings from the same rounds). Whatever happens
(Ctrl-C, SIGTERM, a contended timing under ``--strict``, a full disk), the rows measured so far and
the report are written whole.
"""

from __future__ import annotations

import dataclasses
import datetime
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from convbench import backends
from convbench.suite import roofline
from convbench.plan.config import Suite, resolve_device
from convbench.timing.contention import ContendedError
from convbench.timing.state_probe import DESCRIPTION
from convbench.timing.quiesce import IDLE_CORES, MAX_WAIT_S, WINDOW_S
from convbench.suite.interrupts import GracefulStop
from convbench.store.metadata import run_metadata
from convbench.present.reports import run_reports
from convbench.store.files import ResultWriter, write_atomically
from convbench.store.validation import MAX_BYTES
from convbench.store.schema import frame
from convbench.suite.runner import run_suite
from convbench.plan.expand import Plan, make_plan
from convbench.plan.sharding import Shard


@dataclass
class Part:
    """One suite's share of a run: its metadata and the rows measured now."""

    suite: Suite
    metadata: dict
    rows: list[dict] = field(default_factory=list)
    sessions: int = 0  # the sessions this run was to time
    held: int = 0  # sessions the resumed directory already held whole


@dataclass
class Recording:
    directory: Path | None
    parts: list[Part]
    all_rows: list[dict]  # every row of the directory, earlier ones included when resumed
    interrupted: bool = False
    contended: str | None = None
    unwritable: str | None = None


QUIESCE = (f"waits until this process uses < {IDLE_CORES} cores over {WINDOW_S * 1e3:g} ms (at most "
           f"{MAX_WAIT_S * 1e3:g} ms) before the state probe and before each reading, so thread pools still "
           "spinning after one reading do not share the next one's cores")


def suite_metadata(suite: Suite, shard: Shard | None = None) -> dict:
    """The metadata one suite's rows are described by: machine, versions, timing, baseline, config."""
    device = resolve_device(suite.devices[0])
    meta = run_metadata(device=device, dtype=", ".join(suite.precisions), memory_format=suite.memory_format,
                        threads=suite.timing.threads, cudnn_benchmark=suite.timing.cudnn_benchmark,
                        tf32=suite.timing.tf32)
    meta.update(config=suite.name, description=suite.description, baseline=suite.baseline.label,
                timing=dataclasses.asdict(suite.timing),
                roofline=roofline.cached_peaks(device, suite.dtype, suite.timing.threads),
                settings=suite_settings(suite), backends={name: backends.version(name) for name in suite.backends},
                backend_settings={name: {str(threads): backends.settings(name, threads)
                                         for threads in suite.timing.thread_counts}
                                  for name in suite.backends})
    meta["between_readings"] = QUIESCE
    calibrated = (meta["roofline"] or {}).get("state_probe_ms")
    meta["state_probe"] = {"kernel": DESCRIPTION, "read": "before every reading, at the reading's threads",
                           "calibrated_ms": calibrated}
    if shard:
        meta["shard"] = shard.label
    return meta


def suite_settings(suite: Suite) -> dict:
    data = dataclasses.asdict(suite)
    data["baseline"] = suite.baseline.label
    data["variants"] = [v.label for v in suite.variants]
    return data


def planned(suite: Suite, shard: Shard | None, held_cases: set[str]) -> tuple[Plan, int]:
    """The sessions to time (this shard's, less those ``held_cases`` cover whole) and how many
    ``held_cases`` cover."""
    return make_plan(suite).shard(shard).without_held(held_cases)


def record(suites: list[Suite], directory: Path | None, *, measure_time: bool = True, shard: Shard | None = None,
           resume: bool = False, command: str = "", quiet: bool = False, max_bytes: int = MAX_BYTES,
           warn: Callable[[str], None] | None = None, any_machine: bool = False) -> Recording:
    """Measure ``suites`` into ``directory`` (or nowhere, when None); see the module's docstring.
    Raises :class:`convbench.store.files.OutputError` when the directory cannot be used; ``warn``
    hears what a resume worked around (a line cut short, CSV rows restored from the journal) and
    which finished rows it runs again because another machine measured them. ``any_machine``
    counts a case done whatever machine measured it (for counting-only runs, whose rows do not
    depend on the machine)."""
    writer = ResultWriter(directory, resume=resume, max_bytes=max_bytes, warn=warn) if directory is not None else None
    recording = Recording(directory, [], writer.rows if writer else [])
    run = f"{datetime.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"  # this invocation, on its rows and parts
    with GracefulStop() as stop:
        try:
            for suite in suites:
                part = Part(suite, {**suite_metadata(suite, shard), "run": run})
                recording.parts.append(part)
                machine = part.metadata["machine"]["id"]
                held = held_cases(recording.all_rows, suite.name, machine, any_machine, warn if resume else None)
                plan, part.held = planned(suite, shard, held)
                part.sessions = len(plan.sessions)
                if resume:
                    part.metadata["resumed"] = True
                if writer:
                    writer.drop_sessions(machine, set(plan.keys))  # what is left of a session cut short
                    writer.begin(part.metadata)
                    recording.all_rows = writer.rows
                _measure(part, plan, measure_time, writer, quiet)
        except KeyboardInterrupt:
            recording.interrupted = True
        except ContendedError as error:
            recording.contended = f"timing {error.what} (--strict / {error.setting}: fail): {error}"
            recording.parts[-1].metadata["stopped"] = f"timing {error.what}: {error}"
        except OSError as error:  # disk full, directory removed or made read-only mid-run
            recording.unwritable = (f"{directory}: cannot write results ({error.strerror or error}); "
                                    "the run was cut short")
            recording.parts[-1].metadata["stopped"] = recording.unwritable
        stop.hold()  # a stop now waits until the files are whole
        if writer:
            try:
                writer.finish(interrupted=recording.interrupted)
                reports = run_reports(frame(writer.rows), {**writer.metadata, "parts": writer.parts}, command)
                for name, text in reports.items():
                    write_atomically(directory / name, text)
            except OSError as error:
                recording.unwritable = (recording.unwritable
                                        or f"{directory}: cannot write results ({error.strerror or error})")
            recording.all_rows = writer.rows
        else:
            recording.all_rows = [row for part in recording.parts for row in part.rows]
    recording.interrupted = recording.interrupted or stop.requested
    return recording


def held_cases(rows: list[dict], config: str, machine: str, any_machine: bool = False,
               warn: Callable[[str], None] | None = None) -> set[str]:
    """The case ids ``rows`` hold finished for ``machine`` (for any machine with ``any_machine``);
    ``warn`` hears how many finished rows of ``config`` other machines measured are run again here,
    and why (once per config, however many configs the run holds)."""
    finished = [row for row in rows if row.get("status") != "error"]
    mine = {str(row.get("case_id")) for row in finished if any_machine or row.get("machine") == machine}
    others = {str(row.get("case_id")): str(row.get("machine")) for row in finished
              if row.get("config") == config and str(row.get("case_id")) not in mine}
    if others and warn:
        warn(f"{len(others)} finished cases were measured on another machine ({', '.join(sorted(set(others.values())))}"
             f"), not this one ({machine}): they run again here, since a timing holds for its own machine only (a "
             "counting-only run, --no-timing, can keep them with --resume-any-machine)")
    return mine


def _measure(part: Part, plan: Plan, measure_time: bool, writer: ResultWriter | None, quiet: bool) -> None:
    """Run the plan's sessions with a progress bar; rows go to ``writer`` as soon as they exist."""
    suite, machine = part.suite, part.metadata["machine"]["id"]
    total = len(plan.cases)
    progress = Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=Console(stderr=True), transient=True, disable=quiet)
    with progress:
        task = progress.add_task(suite.name, total=total)

        def on_case(index: int, _: int, description: str) -> None:
            progress.update(task, completed=index, description=description)

        for measurement, raw in run_suite(plan, measure_time=measure_time, on_case=on_case):
            measurement.case = dataclasses.replace(measurement.case, machine=machine, run=part.metadata["run"])
            row = measurement.row()  # the one place a measurement becomes a row
            part.rows.append(row)
            if writer:
                writer.add(row, raw)
        progress.update(task, completed=len(part.rows))
