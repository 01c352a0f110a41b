"""Saving and loading runs: rows written as they are measured, and results files read back as data.

A run directory holds ``results.csv`` (the rows, appended as each is measured), ``results.json``
(the rows with every raw timing, and the run metadata; rewritten after each row) and ``report.md``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from convbench.store.schema import COLUMNS, REQUIRED, frame, with_machine

def run_directory_name(name: str, stamp: str) -> str:
    """``<name>-<stamp>`` as one safe path component: a config's name cannot steer where a run is
    written (``../x`` or ``/abs`` become ``x`` and ``abs``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"
    return f"{safe[:80]}-{stamp}"


class OutputError(ValueError):
    """The output directory cannot be used: one line for the user."""


class ResultWriter:
    """Writes every row to disk as soon as it exists, so an interrupted run loses nothing.

    The directory is locked for the run (``.convbench.lock`` with the writer's PID): a second run
    into it is refused instead of truncating the first one's rows, and so is a directory that already
    holds results, unless ``resume`` is set: then its rows are kept and new ones added after them.
    ``results.json`` is replaced atomically through a uniquely named temporary file.

    A run has one *part* per config it ran (``begin``): the part's metadata (machine, timing,
    baseline, the config's settings), which the tables of that config's rows are described by.
    """

    LOCK = ".convbench.lock"

    def __init__(self, directory: str | Path, resume: bool = False):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise OutputError(f"{self.directory}: is a file, not a directory; choose another --out") from None
        except OSError as error:
            raise OutputError(f"{self.directory}: cannot create the output directory ({error.strerror})") from None
        self.csv_path = self.directory / "results.csv"
        self.json_path = self.directory / "results.json"
        self.parts: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self.raw: list[dict[str, Any]] = []
        self._lock = self._acquire_lock()
        try:
            if resume:
                self._load_for_resume()
            elif self.csv_path.exists() or self.json_path.exists():
                raise OutputError(f"{self.directory}: already holds a run's results; choose a new --out, "
                                  "or --resume it to add only the cases it lacks")
            self._write_csv()
            self._write_json()
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

    def _load_for_resume(self) -> None:
        if not self.json_path.exists() and not self.csv_path.exists():
            raise OutputError(f"{self.directory}: holds no results to resume; run without --resume")
        try:
            document = json.loads(self.json_path.read_text(encoding="utf-8"))
            rows = document["rows"]
            parts = document.get("parts") or [document.get("metadata") or {}]
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise OutputError(f"{self.directory}: its results.json cannot be read, so it cannot be resumed; "
                              "start a new --out") from None
        self.parts = [part for part in parts if isinstance(part, dict)]
        for row in rows:
            if isinstance(row, dict):
                self.raw.append(row.get("raw") or {})
                self.rows.append({k: v for k, v in row.items() if k != "raw"})

    def drop_sessions(self, machine: str, sessions: set[str]) -> int:
        """Remove the rows of these sessions on this machine (to time them again whole); the count."""
        keep = [i for i, row in enumerate(self.rows)
                if not (row.get("machine") == machine and row.get("session") in sessions)]
        dropped = len(self.rows) - len(keep)
        if dropped:
            self.rows = [self.rows[i] for i in keep]
            self.raw = [self.raw[i] for i in keep]
            self._write_csv()
            self._write_json()
        return dropped

    def replace(self, parts: list[dict[str, Any]], rows: list[dict[str, Any]],
                raw: list[dict[str, Any]] | None = None) -> None:
        """Write these parts and rows in place of what the directory held."""
        self.parts, self.rows, self.raw = parts, rows, raw or [{} for _ in rows]
        self._write_csv()
        self._write_json()

    def begin(self, metadata: dict[str, Any]) -> None:
        """Start a part: the rows added from now on are described by ``metadata``."""
        self.parts.append(metadata)
        self._write_json()

    def _acquire_lock(self) -> Path:
        lock = self.directory / self.LOCK
        for _ in range(2):
            try:
                handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid = _lock_owner(lock)
                if pid is not None and _alive(pid):
                    raise OutputError(f"{self.directory}: another convbench run (pid {pid}) is writing here; "
                                      "choose another --out") from None
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

    def add(self, row: dict[str, Any], raw: dict[str, Any] | None = None) -> None:
        self.rows.append(row)
        self.raw.append(raw or {})
        with self.csv_path.open("a", newline="") as f:
            csv.DictWriter(f, COLUMNS).writerow({k: _csv_value(row.get(k)) for k in COLUMNS})
        self._write_json()

    def finish(self, interrupted: bool = False) -> None:
        if self.parts:
            self.metadata["interrupted"] = interrupted
        try:
            self._write_json()
        finally:
            self.release()

    def _write_csv(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, COLUMNS)
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in COLUMNS})
        write_atomically(self.csv_path, buffer.getvalue())

    def _write_json(self) -> None:
        write_atomically(self.json_path, results_document(self.parts, self.rows, self.raw))


def results_document(parts: list[dict[str, Any]], rows: list[dict[str, Any]],
                     raw: list[dict[str, Any]] | None = None) -> str:
    """results.json: the first part's metadata (``metadata``), every part (``parts``), and the rows
    (with their raw timings), laid out a row per line; never NaN."""
    raw = raw or [{}] * len(rows)
    head = _finite({"metadata": parts[0] if parts else {}, "parts": parts})
    lines = [json.dumps(_finite({**row, "raw": r}), default=_json_default, allow_nan=False)
             for row, r in zip(rows, raw)]
    text = json.dumps(head, indent=1, default=_json_default, allow_nan=False)[:-2]
    return text + ',\n "rows": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n"


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step, through a uniquely named temporary file beside it
    (never a half-written file, never another writer's temporary)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _lock_owner(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _finite(value):
    """``value`` with every NaN or infinite float replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _csv_value(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)


class ResultsError(ValueError):
    """A results file that cannot be read: one line naming the file and the problem."""


def load_results(path: str | Path, warn: Callable[[str], None] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A run's rows and metadata, from its directory, its results.json or its results.csv.

    Raises :class:`ResultsError` naming the file for anything unreadable; ``warn`` hears of what
    was worked around (a corrupt results.json beside a good results.csv, a CSV row cut short).
    """
    warn = warn or (lambda message: None)
    path = Path(path)
    if path.is_dir():
        json_path, csv_path = path / "results.json", path / "results.csv"
        if json_path.exists():
            try:
                return _load_json(json_path)
            except ResultsError as error:
                if not csv_path.exists():
                    raise
                warn(f"{error}; reading {csv_path} instead")
                return _load_csv(csv_path, warn)
        path = csv_path
    if not path.exists():
        raise ResultsError(f"{path}: no such results file or run directory")
    if path.suffix == ".json":
        return _load_json(path)
    if path.suffix == ".csv":
        return _load_csv(path, warn)
    raise ResultsError(f"{path}: expected a run directory, results.json or results.csv")


def _load_json(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ResultsError(f"{path}: cannot read ({error})") from None
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path}: not valid JSON (line {error.lineno}: {error.msg}); cut short?") from None
    rows = document.get("rows") if isinstance(document, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ResultsError(f"{path}: not a convbench results.json (expected an object with a list of rows)")
    metadata = document.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    parts = document.get("parts")
    metadata["parts"] = [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else [dict(metadata)]
    rows = [{k: v for k, v in row.items() if k != "raw"} for row in rows]
    _check_columns(path, rows[0].keys() if rows else REQUIRED)
    return with_machine(frame(rows), metadata), metadata


def _load_csv(path: Path, warn: Callable[[str], None]) -> tuple[pd.DataFrame, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ResultsError(f"{path}: cannot read ({error})") from None
    records = list(csv.reader(text.splitlines()))
    if not records:
        raise ResultsError(f"{path}: empty")
    header, body = records[0], records[1:]
    _check_columns(path, header)
    if body and (len(body[-1]) != len(header) or not text.endswith("\n")):
        warn(f"{path}: the last row is cut short ({len(body[-1])} of {len(header)} fields); dropped it")
        body = body[:-1]
    bad = [i + 2 for i, record in enumerate(body) if len(record) != len(header)]
    if bad:
        raise ResultsError(f"{path}: line {bad[0]} has a different number of fields than the header")
    df = pd.read_csv(io.StringIO("\n".join([",".join(header)] + [_csv_line(r) for r in body]) + "\n"))
    metadata_path = path.with_name("results.json")
    metadata: dict[str, Any] = {}
    if metadata_path.exists():
        try:
            metadata = _load_json(metadata_path)[1]
        except ResultsError as error:
            warn(f"{error}; the tables will lack the run's metadata")
    return with_machine(df.reindex(columns=COLUMNS), metadata), metadata


def raw_timings(path: str | Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The raw timings a run's results.json holds, by (case id, machine); empty if it has none."""
    path = Path(path)
    path = path / "results.json" if path.is_dir() else path.with_name("results.json")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
        return {(row["case_id"], row.get("machine")): row.get("raw") or {}
                for row in rows if isinstance(row, dict) and row.get("case_id")}
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return {}


def _csv_line(record: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(record)
    return buffer.getvalue()


def _check_columns(path: Path, columns) -> None:
    missing = [c for c in REQUIRED if c not in set(columns)]
    if missing:
        raise ResultsError(f"{path}: not convbench results (no {', '.join(missing)} column)")
