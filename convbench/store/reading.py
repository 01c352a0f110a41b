"""Reading runs back: a run directory, its results.jsonl (or an older run's results.json) or its
results.csv, as a validated DataFrame and its metadata (see :mod:`convbench.store.validation`)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from convbench.store import journal
from convbench.store.csv_text import restored
from convbench.store.journal import read_journal
from convbench.store.upgrade import Identify, upgrade
from convbench.store.schema import COLUMNS, FLAG_COLUMNS, NUMBER_COLUMNS, REQUIRED, STATUSES, frame
from convbench.store.validation import (MAX_BYTES, ResultsError, TooLarge, check_part, check_row, parse_json,
                                        read_regular)

LEGACY_JSON = "results.json"
CSV_NAME = "results.csv"


def load_results(path: str | Path, warn: Callable[[str], None] | None = None, max_bytes: int = MAX_BYTES,
                 identify: Identify | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A run's rows and metadata, from its directory, its results.jsonl (or an older run's
    results.json) or its results.csv, in the current results format (:mod:`convbench.store.upgrade`;
    ``identify`` computes the case ids of a run saved before them).

    Raises :class:`ResultsError` naming the file and the field for anything unreadable or not of the
    schema; ``warn`` hears of what was worked around (a cut-short last line or row, a corrupt
    results.jsonl beside a good results.csv).
    """
    df, metadata = _read(Path(path), warn or (lambda message: None), max_bytes)
    return upgrade(df, metadata, identify, where=str(path)), metadata


def _read(path: Path, warn: Callable[[str], None], max_bytes: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The rows and metadata a run's files hold, in the format they were saved in."""
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
        parts, rows, _ = read_legacy(path, max_bytes)
    metadata = dict(parts[0]) if parts else {}
    metadata["parts"] = parts
    _check_columns(path, rows[0].keys() if rows else REQUIRED)
    return frame(rows), metadata


def read_legacy(path: Path, max_bytes: int, keep_raw: bool = False):
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


def csv_records(path: Path, max_bytes: int, warn: Callable[[str], None]) -> tuple[list[str], list[list[str]]]:
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
    header, body = csv_records(path, max_bytes, warn)
    _check_columns(path, header)
    df = pd.DataFrame(body, columns=header, dtype=object).replace("", None).map(restored)
    for column in NUMBER_COLUMNS & set(header):
        values = pd.to_numeric(df[column], errors="coerce")
        bad = df[column].notna() & (values.isna() | ~values.abs().lt(2**63))
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise ResultsError(f"{path}: row {row + 2}: {column}: {str(df[column].iloc[row])[:40]!r} is not a number")
        df[column] = values
    for column in FLAG_COLUMNS & set(header):
        df[column] = df[column].map(lambda v: None if v is None else str(v).lower() == "true")
    for i, status in enumerate(df["status"]):
        if status not in STATUSES:
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
    return df.reindex(columns=COLUMNS), metadata


def raw_timings(path: str | Path, max_bytes: int = MAX_BYTES) -> dict[tuple[str, str], dict[str, Any]]:
    """The raw timings a run holds, by (case id, machine); empty if it has none."""
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    try:
        if (directory / journal.NAME).exists():
            contents = read_journal(directory / journal.NAME, max_bytes, keep_raw=True)
            rows, raw = contents.rows, contents.raw or []
        elif (directory / LEGACY_JSON).exists():
            _, rows, raw = read_legacy(directory / LEGACY_JSON, max_bytes, keep_raw=True)
        else:
            return {}
    except ResultsError:
        return {}
    return {(row["case_id"], row.get("machine")): r for row, r in zip(rows, raw) if row.get("case_id")}


def _check_columns(path: Path, columns) -> None:
    missing = [c for c in REQUIRED if c not in set(columns)]
    if missing:
        raise ResultsError(f"{path}: not convbench results (no {', '.join(missing)} column)")

