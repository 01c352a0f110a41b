"""Saving and loading runs: rows written as they are measured, and results files read back as data.

A run directory holds ``results.jsonl`` (the parts' metadata and every row with its raw timings,
appended as each row is measured; see :mod:`convbench.store.journal`), ``results.csv`` (the rows as
a table, appended too) and ``report.md``. Runs saved before the journal existed have a
``results.json`` instead, which is still read.
"""

from __future__ import annotations

import copy
import csv
import io
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from convbench.store import journal
from convbench.store.atomic import write_atomically
from convbench.store.journal import JournalWriter, read_journal, write_journal
from convbench.store.schema import COLUMNS, NUMBER_COLUMNS, REQUIRED, frame, with_machine
from convbench.store.validation import MAX_BYTES, ResultsError, TooLarge, check_part, check_row, parse_json, read_regular

__all__ = ["OutputError", "ResultWriter", "ResultsError", "RUN_FILES", "load_results", "raw_timings",
           "run_directory_name", "write_atomically"]

LEGACY_JSON = "results.json"
CSV_NAME = "results.csv"
LOCK = ".convbench.lock"
RUN_FILES = (journal.NAME, LEGACY_JSON, CSV_NAME, "report.md", LOCK)


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

    The directory is locked for the run (``.convbench.lock`` with the writer's PID): a second run
    into it is refused instead of mixing its rows with the first one's, and so is a directory that
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
        self._lock = self._acquire_lock()
        try:
            if resume:
                self._load_for_resume(max_bytes, warn or (lambda message: None))
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
            parts, rows, raw = _read_legacy(self.directory / LEGACY_JSON, max_bytes, keep_raw=True)
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
        header, records = _csv_records(self.csv_path, max_bytes, warn)
        if header != COLUMNS:
            raise OutputError(f"{self.csv_path}: its columns are not this version's; it cannot be resumed: "
                              "start a new --out (export and merge still read it)")
        journal_keys = [_row_key(row) for row in self.rows]
        csv_keys = [_row_key(dict(zip(header, record))) for record in records]
        if csv_keys == journal_keys[:len(csv_keys)]:
            if len(csv_keys) < len(journal_keys):
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

    def _acquire_lock(self) -> Path:
        lock = self.directory / LOCK
        for _ in range(2):
            try:
                handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                pid = _lock_owner(lock)
                if pid is None:
                    raise OutputError(f"{self.directory}: is locked by {lock}, which names no process; remove it "
                                      "if no convbench run is writing here") from None
                if pid and _alive(pid):
                    raise OutputError(f"{self.directory}: another convbench run (pid {pid}) is writing here; "
                                      "choose another --out") from None
                if pid:
                    lock.unlink(missing_ok=True)  # left by a run that died
                continue
            except OSError as error:
                raise OutputError(f"{self.directory}: cannot write here ({error.strerror})") from None
            with os.fdopen(handle, "w") as f:
                f.write(str(os.getpid()))
            return lock
        raise OutputError(f"{self.directory}: cannot take the lock {lock}")

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


def _lock_owner(lock: Path) -> int | None:
    """The PID in a lock file; None while its writer has not written it yet (or cannot be read)."""
    for _ in range(50):  # the owner writes its PID just after creating the file
        try:
            return int(lock.read_text().strip())
        except FileNotFoundError:
            return 0  # released meanwhile: no owner
        except (OSError, ValueError):
            time.sleep(0.01)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _csv_value(value):
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return value


def load_results(path: str | Path, warn: Callable[[str], None] | None = None,
                 max_bytes: int = MAX_BYTES) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A run's rows and metadata, from its directory, its results.jsonl (or an older run's
    results.json) or its results.csv.

    Raises :class:`ResultsError` naming the file and the field for anything unreadable or not of the
    schema; ``warn`` hears of what was worked around (a cut-short last line or row, a corrupt
    results.jsonl beside a good results.csv).
    """
    warn = warn or (lambda message: None)
    path = Path(path)
    if path.is_dir():
        csv_path = path / CSV_NAME
        for name in (journal.NAME, LEGACY_JSON):
            if (path / name).exists():
                try:
                    return _load_records(path / name, max_bytes, warn)
                except TooLarge:
                    raise
                except ResultsError as error:
                    if not csv_path.exists():
                        raise
                    warn(f"{error}; reading {csv_path} instead")
                    return _load_csv(csv_path, warn, max_bytes)
        path = csv_path
    if not path.exists():
        raise ResultsError(f"{path}: no such results file or run directory")
    if path.suffix in (".jsonl", ".json"):
        return _load_records(path, max_bytes, warn)
    if path.suffix == ".csv":
        return _load_csv(path, warn, max_bytes)
    raise ResultsError(f"{path}: expected a run directory, results.jsonl, results.json or results.csv")


def _load_records(path: Path, max_bytes: int, warn: Callable[[str], None]) -> tuple[pd.DataFrame, dict[str, Any]]:
    if path.suffix == ".jsonl":
        contents = read_journal(path, max_bytes, warn=warn)
        parts, rows = contents.parts, contents.rows
    else:
        parts, rows, _ = _read_legacy(path, max_bytes)
    metadata = dict(parts[0]) if parts else {}
    metadata["parts"] = parts
    _check_columns(path, rows[0].keys() if rows else REQUIRED)
    return with_machine(frame(rows), metadata), metadata


def _read_legacy(path: Path, max_bytes: int, keep_raw: bool = False):
    """An older run's results.json: ``{"metadata": ..., "parts": [...], "rows": [...]}``, validated."""
    document = parse_json(read_regular(path, max_bytes), str(path))
    if not isinstance(document, dict) or not isinstance(document.get("rows"), list):
        raise ResultsError(f"{path}: not a convbench results.json (expected an object with a list of rows)")
    parts = document.get("parts")
    if parts is None:
        parts = [document.get("metadata") or {}]
    if not isinstance(parts, list):
        raise ResultsError(f"{path}: parts: must be a list, got {type(parts).__name__}")
    parts = [check_part(part, f"{path}: parts[{i}]") for i, part in enumerate(parts)]
    if document.get("metadata") is not None:
        check_part(document["metadata"], f"{path}: metadata")
    rows = [check_row(row, f"{path}: rows[{i}]") for i, row in enumerate(document["rows"])]
    raw = [row.get("raw") or {} for row in rows] if keep_raw else None
    return parts, [{k: v for k, v in row.items() if k != "raw"} for row in rows], raw


def _csv_records(path: Path, max_bytes: int, warn: Callable[[str], None]) -> tuple[list[str], list[list[str]]]:
    """The header and records of a results.csv; a last record cut short is dropped with a warning
    (a whole last record without its newline is kept)."""
    try:
        text = read_regular(path, max_bytes).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ResultsError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise ResultsError(f"{path}: not valid CSV ({error})") from None
    if not records:
        raise ResultsError(f"{path}: empty")
    header, body = records[0], records[1:]
    if body and len(body[-1]) != len(header):
        warn(f"{path}: the last row is cut short ({len(body[-1])} of {len(header)} fields); dropped it")
        body = body[:-1]
    bad = [i + 2 for i, record in enumerate(body) if len(record) != len(header)]
    if bad:
        raise ResultsError(f"{path}: row {bad[0]} has a different number of fields than the header")
    return header, body


def _load_csv(path: Path, warn: Callable[[str], None], max_bytes: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    header, body = _csv_records(path, max_bytes, warn)
    _check_columns(path, header)
    df = pd.DataFrame(body, columns=header, dtype=object).replace("", None)
    for column in NUMBER_COLUMNS & set(header):
        values = pd.to_numeric(df[column], errors="coerce")
        bad = df[column].notna() & (values.isna() | ~values.abs().lt(2**63))
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise ResultsError(f"{path}: row {row + 2}: {column}: {str(df[column].iloc[row])[:40]!r} is not a number")
        df[column] = values
    for column in ("noisy", "significant", "contended", "unstable"):
        if column in df:
            df[column] = df[column].map(lambda v: None if v is None else str(v).lower() == "true")
    for i, status in enumerate(df["status"]):
        if status not in ("ok", "skipped", "error"):
            raise ResultsError(f"{path}: row {i + 2}: status: {str(status)[:40]!r} is not one of ok, skipped, error")
    metadata: dict[str, Any] = {}
    for name in (journal.NAME, LEGACY_JSON):
        if path.with_name(name).exists():
            try:
                metadata = _load_records(path.with_name(name), max_bytes, lambda message: None)[1]
            except TooLarge:
                raise
            except ResultsError as error:
                warn(f"{error}; the tables will lack the run's metadata")
            break
    return with_machine(df.reindex(columns=COLUMNS), metadata), metadata


def raw_timings(path: str | Path, max_bytes: int = MAX_BYTES) -> dict[tuple[str, str], dict[str, Any]]:
    """The raw timings a run holds, by (case id, machine); empty if it has none."""
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    try:
        if (directory / journal.NAME).exists():
            contents = read_journal(directory / journal.NAME, max_bytes, keep_raw=True)
            rows, raw = contents.rows, contents.raw or []
        elif (directory / LEGACY_JSON).exists():
            _, rows, raw = _read_legacy(directory / LEGACY_JSON, max_bytes, keep_raw=True)
        else:
            return {}
    except ResultsError:
        return {}
    return {(row["case_id"], row.get("machine")): r for row, r in zip(rows, raw) if row.get("case_id")}


def _check_columns(path: Path, columns) -> None:
    missing = [c for c in REQUIRED if c not in set(columns)]
    if missing:
        raise ResultsError(f"{path}: not convbench results (no {', '.join(missing)} column)")

