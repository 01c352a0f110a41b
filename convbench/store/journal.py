"""``results.jsonl``: a run's record of what it measured, one JSON object per line, only ever appended.

Adding a row writes that row's line and nothing else, so a run of any size grows at the cost of its
new rows, and a crash can cut short at most the line being written (the reader drops it, with a
warning, and the writer closes it before appending). The records, in the order they happened::

    {"part": {...}}                                     a part begins: its metadata (one per config)
    {"row": {..., "raw": {...}}}                        a row of the last part begun, with its raw timings
    {"part_update": {"index": 0, "fields": {...}}}      metadata set once the part ended (interrupted, stopped)
    {"drop": {"machine": "...", "sessions": [...]}}     earlier rows of these sessions removed (timed again)

Reading applies them in order; every part and row is validated (:mod:`convbench.store.validation`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from convbench.store.atomic import write_atomically
from convbench.store.validation import MAX_BYTES, ResultsError, check_part, check_row, parse_json, read_regular

NAME = "results.jsonl"


@dataclass
class Contents:
    """What a journal holds once its records are applied."""

    parts: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # without their raw timings
    raw: list[dict[str, Any]] | None = None  # each row's raw timings, when asked for
    cut_short: bool = False  # the last line was cut short and dropped


def read_journal(path: Path, max_bytes: int = MAX_BYTES, keep_raw: bool = False,
                 warn: Callable[[str], None] | None = None) -> Contents:
    data = read_regular(path, max_bytes)
    contents = Contents(raw=[] if keep_raw else None)
    lines = data.split(b"\n")
    if lines and lines[-1].strip():
        contents.cut_short = True
        if warn:
            warn(f"{path}: the last line is cut short ({len(lines[-1]):,} bytes); dropped it")
    for number, line in enumerate(lines[:-1], 1):
        if line.strip():
            _apply(contents, parse_json(line, f"{path}:{number}"), f"{path}:{number}")
    return contents


def _apply(contents: Contents, record: Any, where: str) -> None:
    if not isinstance(record, dict) or len(record) != 1:
        raise ResultsError(f"{where}: expected one of {{part: ...}}, {{row: ...}}, {{part_update: ...}} or "
                           "{drop: ...}; not a convbench results.jsonl")
    (kind, value), = record.items()
    if kind == "part":
        contents.parts.append(check_part(value, f"{where}: part"))
    elif kind == "row":
        if not contents.parts:
            raise ResultsError(f"{where}: a row before any part")
        row = check_row(value, f"{where}: row")
        if contents.raw is not None:
            contents.raw.append(row.get("raw") or {})
        contents.rows.append({k: v for k, v in row.items() if k != "raw"})
    elif kind == "part_update":
        index = value.get("index") if isinstance(value, dict) else None
        fields = value.get("fields") if isinstance(value, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(contents.parts) \
                or not isinstance(fields, dict):
            raise ResultsError(f"{where}: part_update needs the index of an earlier part and its fields")
        contents.parts[index] = check_part({**contents.parts[index], **fields}, f"{where}: part_update")
    elif kind == "drop":
        machine = value.get("machine") if isinstance(value, dict) else None
        sessions = value.get("sessions") if isinstance(value, dict) else None
        if not isinstance(sessions, list) or not all(isinstance(s, str) for s in sessions):
            raise ResultsError(f"{where}: drop needs a machine and a list of sessions")
        gone = set(sessions)
        keep = [i for i, row in enumerate(contents.rows)
                if not (row.get("machine") == machine and row.get("session") in gone)]
        contents.rows = [contents.rows[i] for i in keep]
        if contents.raw is not None:
            contents.raw = [contents.raw[i] for i in keep]
    else:
        raise ResultsError(f"{where}: unknown record {kind[:40]!r}; not a convbench results.jsonl")


class JournalWriter:
    """Appends records to a journal, each as one write of one line."""

    def __init__(self, path: Path):
        self.path = path
        _close_last_line(path)

    def append(self, kind: str, value: dict[str, Any]) -> None:
        line = json.dumps({kind: finite(value)}, default=_json_default, allow_nan=False, separators=(",", ":"))
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def _close_last_line(path: Path) -> None:
    """Drop a last line cut short by a crash, so the next record starts on a line of its own."""
    try:
        with open(path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return
            f.seek(max(0, size - 1))
            if f.read(1) == b"\n":
                return
            f.seek(0)
            data = f.read()
            f.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        pass


def write_journal(path: Path, parts: list[dict[str, Any]], rows: list[dict[str, Any]],
                  raw: list[dict[str, Any]] | None = None) -> None:
    """A new journal holding these parts, then these rows (each row names its config)."""
    raw = raw or [{} for _ in rows]
    lines = [json.dumps({"part": finite(part)}, default=_json_default, allow_nan=False) for part in parts]
    lines += [json.dumps({"row": finite({**row, "raw": r})}, default=_json_default, allow_nan=False)
              for row, r in zip(rows, raw)]
    write_atomically(path, "".join(line + "\n" for line in lines))


def finite(value):
    """``value`` with every NaN or infinite float replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)
