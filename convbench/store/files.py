"""Writing runs: rows saved as they are measured, into a locked run directory
(:mod:`convbench.store.reading` reads them back).

A run directory holds ``results.jsonl`` (the parts' metadata and every row with its raw timings,
appended as each row is measured; see :mod:`convbench.store.journal`), ``results.csv`` (the rows as
a table, appended too), ``report.md`` and ``report.html``. Runs saved before the journal existed have a
``results.json`` instead, which is still read.
"""

from __future__ import annotations

import copy
import csv
import io
import os
import re
from pathlib import Path
from typing import Any, Callable


from convbench.store import journal, lock
from convbench.store.atomic import write_atomically
from convbench.store.csv_text import inert, restored
from convbench.store.journal import JournalWriter, read_journal, write_journal
from convbench.store.upgrade import FORMAT
from convbench.store.reading import CSV_NAME, LEGACY_JSON, csv_records, load_results, raw_timings, read_legacy
from convbench.store.schema import COLUMNS
from convbench.store.validation import MAX_BYTES, ResultsError

__all__ = ["OutputError", "ResultWriter", "ResultsError", "RUN_FILES", "load_results", "raw_timings",
           "run_directory_name", "write_atomically"]

LOCK = lock.NAME
RUN_FILES = (journal.NAME, LEGACY_JSON, CSV_NAME, "report.md", "report.html", LOCK)


def run_directory_name(name: str, stamp: str) -> str:
    """``<name>-<stamp>`` as one safe path component: a config's name cannot steer where a run is
    written (``../x`` or ``/abs`` become ``x`` and ``abs``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"
    return f"{safe[:80]}-{stamp}"


def holds_run(directory: Path) -> bool:
    return any((directory / name).exists() for name in (journal.NAME, LEGACY_JSON, CSV_NAME))


class OutputError(ValueError):
    """The output directory cannot be used: one line for the user."""


class ResultWriter:
    """Writes every row to disk as soon as it exists, so an interrupted run loses nothing.

    The directory is locked for the run (``.convbench.lock``, see :mod:`convbench.store.lock`): a
    second run into it is refused instead of mixing its rows with the first one's, and so is a directory that
    already holds results, unless ``resume`` is set: then its rows are kept and new ones appended
    after them, once its results.csv and results.jsonl agree (see :meth:`_reconcile`).

    A run has one *part* per config it ran (``begin``): the part's metadata (machine, timing,
    baseline, the config's settings), which the tables of that config's rows are described by.
    Rows are kept here without their raw timings, which go only to the journal.
    """

    LOCK = LOCK

    def __init__(self, directory: str | Path, resume: bool = False, max_bytes: int = MAX_BYTES,
                 warn: Callable[[str], None] | None = None):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise OutputError(f"{self.directory}: is a file, not a directory; choose another --out") from None
        except OSError as error:
            raise OutputError(f"{self.directory}: cannot create the output directory ({error.strerror})") from None
        self.csv_path = self.directory / CSV_NAME
        self.journal_path = self.directory / journal.NAME
        self.parts: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self._begun: list[dict[str, Any]] = []  # each part's metadata as first written
        warn = warn or (lambda message: None)
        try:
            self._lock = lock.acquire(self.directory, warn)
        except lock.LockError as error:
            raise OutputError(str(error)) from None
        try:
            if resume:
                self._load_for_resume(max_bytes, warn)
            elif holds_run(self.directory):
                raise OutputError(f"{self.directory}: already holds a run's results; choose a new --out, "
                                  "or --resume it to add only the cases it lacks")
            else:
                write_atomically(self.journal_path, "")
                self._write_csv()
            self._journal = JournalWriter(self.journal_path)
        except ResultsError as error:
            self.release()
            raise OutputError(f"{error}; it cannot be resumed: start a new --out") from None
        except OSError as error:
            self.release()
            raise OutputError(f"{self.directory}: cannot write results ({error.strerror})") from None
        except BaseException:
            self.release()
            raise

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata of the part being written (the last one begun)."""
        return self.parts[-1] if self.parts else {}

    def _load_for_resume(self, max_bytes: int, warn: Callable[[str], None]) -> None:
        if not holds_run(self.directory):
            raise OutputError(f"{self.directory}: holds no results to resume; run without --resume")
        if self.journal_path.exists():
            contents = read_journal(self.journal_path, max_bytes, warn=warn)
            self.parts, self.rows = contents.parts, contents.rows
        elif (self.directory / LEGACY_JSON).exists():  # a run saved before the journal: converted once
            parts, rows, raw = read_legacy(self.directory / LEGACY_JSON, max_bytes, keep_raw=True)
            write_journal(self.journal_path, parts, rows, raw)
            os.replace(self.directory / LEGACY_JSON, self.directory / "results.before-resume.json")
            self.parts, self.rows = parts, rows
        else:
            raise OutputError(f"{self.directory}: has a results.csv but no results.jsonl, so its raw timings "
                              "and metadata are gone; it cannot be resumed: start a new --out")
        self._begun = copy.deepcopy(self.parts)
        self._reconcile(max_bytes, warn)

    def _reconcile(self, max_bytes: int, warn: Callable[[str], None]) -> None:
        """Make results.csv hold the journal's rows, or refuse: rows the CSV lacks (a stop between the
        two appends) are added to it; rows only the CSV has would be lost, so the resume is refused."""
        if not self.csv_path.exists():
            self._write_csv()
            return
        header, records = csv_records(self.csv_path, max_bytes, warn)
        journal_keys = [_row_key(row) for row in self.rows]
        csv_keys = [_row_key(dict(zip(header, map(restored, record)))) for record in records]
        if csv_keys == journal_keys[:len(csv_keys)]:
            if header != COLUMNS:
                warn(f"{self.csv_path}: written again with this version's columns (its rows are the journal's)")
                self._write_csv()
            elif len(csv_keys) < len(journal_keys):
                warn(f"{self.csv_path}: lacked the last {len(journal_keys) - len(csv_keys)} row(s) of "
                     f"{journal.NAME}; added them")
                self._write_csv()
            elif not _ends_with_newline(self.csv_path):  # a whole last row without its newline
                self._write_csv()
            return
        raise OutputError(f"{self.directory}: results.csv holds {len(csv_keys)} rows and {journal.NAME} "
                          f"{len(journal_keys)}, and they differ; resuming would lose rows: start a new --out "
                          "(merge can join what each holds)")

    def drop_sessions(self, machine: str, sessions: set[str]) -> int:
        """Remove the rows of these sessions on this machine (to time them again whole); the count."""
        keep = [row for row in self.rows if not (row.get("machine") == machine and row.get("session") in sessions)]
        dropped = len(self.rows) - len(keep)
        if dropped:
            self.rows = keep
            self._write_csv()  # before the journal: a stop between the two leaves rows the journal restores
            self._journal.append("drop", {"machine": machine, "sessions": sorted(sessions)})
        return dropped

    def begin(self, metadata: dict[str, Any]) -> None:
        """Start a part: the rows added from now on are described by ``metadata``."""
        metadata["format"] = FORMAT
        self.parts.append(metadata)
        self._begun.append(copy.deepcopy(metadata))
        self._journal.append("part", metadata)

    def add(self, row: dict[str, Any], raw: dict[str, Any] | None = None) -> None:
        self._journal.append("row", {**row, "raw": raw or {}})
        self.rows.append(row)
        with self.csv_path.open("a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, COLUMNS).writerow({k: _csv_value(row.get(k)) for k in COLUMNS})

    def finish(self, interrupted: bool = False) -> None:
        """Record what changed in each part's metadata since it began (interrupted, stopped); unlock."""
        try:
            if self.parts:
                self.metadata["interrupted"] = interrupted
            for index, (part, begun) in enumerate(zip(self.parts, self._begun)):
                changed = {k: v for k, v in part.items() if begun.get(k) != v}
                if changed:
                    self._journal.append("part_update", {"index": index, "fields": changed})
                    self._begun[index] = copy.deepcopy(part)
        finally:
            self.release()

    def release(self) -> None:
        self._lock.unlink(missing_ok=True)

    def _write_csv(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, COLUMNS)
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in COLUMNS})
        write_atomically(self.csv_path, buffer.getvalue())


def write_run(directory: Path, parts: list[dict[str, Any]], rows: list[dict[str, Any]],
              raw: list[dict[str, Any]] | None = None) -> None:
    """A complete run's files (journal and CSV) in a directory that holds none yet."""
    write_journal(directory / journal.NAME, parts, rows, raw)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in COLUMNS})
    write_atomically(directory / CSV_NAME, buffer.getvalue())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - 1))
        return size == 0 or f.read(1) == b"\n"


def _row_key(row: dict[str, Any]) -> tuple:
    return tuple(str(row.get(k) if row.get(k) is not None else "") for k in ("case_id", "machine", "label", "shape"))


def _csv_value(value):
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return inert(value)
