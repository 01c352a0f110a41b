"""Results files read as data: opened only when they are regular files within a size limit, parsed
within JSON's number and depth limits, and checked field by field against the schema, so that a
truncated, foreign or hostile file is one :class:`ResultsError` naming the file and the field, never
a traceback or a hang further on.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from convbench.store.schema import FLAG_COLUMNS, NUMBER_COLUMNS, STATUSES, TEXT_COLUMNS

MAX_BYTES = 1 << 30  # a results file larger than this is refused unless the limit is raised (--max-size)
MAX_DEPTH = 64  # containers nested deeper than this in one JSON value
INT_LIMIT = 2**63  # integers beyond int64 cannot be a count or a size


class ResultsError(ValueError):
    """A results file that cannot be read: one line naming the file and the problem."""


class TooLarge(ResultsError):
    """A results file over the size limit: refused, never worked around by reading another file."""


def read_regular(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of ``path``, which must be a regular file (not a device, FIFO or socket, which
    could hang or never end) of at most ``max_bytes``."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO does not block the open
    except OSError as error:
        raise ResultsError(f"{path}: cannot read ({error.strerror or error})") from None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise ResultsError(f"{path}: not a regular file; a results file is read only from a plain file")
        if info.st_size > max_bytes:
            raise TooLarge(f"{path}: {info.st_size:,} bytes, more than the limit of {max_bytes:,}; raise it "
                               f"with --max-size {math.ceil(info.st_size / 2**20)} (MiB) if the file is yours")
        with os.fdopen(handle, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ResultsError(f"{path}: grew past the limit of {max_bytes:,} bytes while being read")
        return data
    except OSError as error:
        raise ResultsError(f"{path}: cannot read ({error.strerror or error})") from None
    finally:
        os.close(handle)


def parse_json(text: str | bytes, where: str) -> Any:
    """One JSON value; a ResultsError for bad JSON, numbers Python will not convert (over 4,300
    digits), NaN / Infinity (not JSON), and nesting deeper than :data:`MAX_DEPTH`."""
    if _nesting(text) > MAX_DEPTH:
        raise ResultsError(f"{where}: nested deeper than {MAX_DEPTH} levels; not a convbench results file")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise ResultsError(f"{where}: not valid JSON (line {error.lineno}: {error.msg}); cut short?") from None
    except (ValueError, RecursionError, UnicodeDecodeError) as error:
        raise ResultsError(f"{where}: not valid JSON ({str(error).splitlines()[0][:120]})") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _nesting(text: str | bytes) -> int:
    """The deepest nesting of brackets outside strings (a cheap upper bound before parsing)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return 0
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def check_row(row: Any, where: str) -> dict[str, Any]:
    """A row of the schema: a mapping whose known columns hold values of their kind."""
    if not isinstance(row, dict):
        raise ResultsError(f"{where}: a row must be an object, got {_kind(row)}")
    for key in ("variant", "label", "shape", "status"):
        if not isinstance(row.get(key), str):
            raise ResultsError(f"{where}.{key}: must be text, got {_kind(row.get(key))}")
    if row["status"] not in STATUSES:
        raise ResultsError(f"{where}.status: {row['status'][:40]!r} is not one of {', '.join(STATUSES)}")
    for key, value in row.items():
        if value is None:
            continue
        if key in TEXT_COLUMNS or key == "traceback":
            if not isinstance(value, str):
                raise ResultsError(f"{where}.{key}: must be text, got {_kind(value)}")
        elif key in NUMBER_COLUMNS:
            _check_number(value, f"{where}.{key}")
        elif key in FLAG_COLUMNS:
            if not isinstance(value, bool):
                raise ResultsError(f"{where}.{key}: must be true or false, got {_kind(value)}")
        elif key == "raw" and not isinstance(value, dict):
            raise ResultsError(f"{where}.raw: must be an object of raw timings, got {_kind(value)}")
    return row


def _check_number(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResultsError(f"{where}: must be a number, got {_kind(value)}")
    if isinstance(value, int) and not -INT_LIMIT < value < INT_LIMIT:
        raise ResultsError(f"{where}: {len(str(abs(value)))}-digit integer is out of range")
    if isinstance(value, float) and not math.isfinite(value):
        raise ResultsError(f"{where}: must be a finite number")


PART_TEXT = ("config", "baseline", "description", "date", "host", "device", "device_name", "cpu_model", "torch",
             "cuda", "cudnn", "dtype", "memory_format", "allocator", "shard", "stopped", "convbench_version",
             "git_commit", "between_readings", "run")
PART_FLAGS = ("interrupted", "resumed")
PART_MAPPINGS = ("timing", "roofline", "machine", "backends", "backend_settings", "settings", "state_probe")
ROOFLINE_NUMBERS = ("peak_gmacs_per_s", "bandwidth_gb_per_s")


def check_part(part: Any, where: str) -> dict[str, Any]:
    """A part's metadata: a mapping whose known fields hold values of their kind (the machine's
    ``id`` text, the timing's numbers, the roofline's peaks positive numbers)."""
    if not isinstance(part, dict):
        raise ResultsError(f"{where}: must be an object, got {_kind(part)}")
    for key in PART_TEXT:
        if part.get(key) is not None and not isinstance(part[key], str):
            raise ResultsError(f"{where}.{key}: must be text, got {_kind(part[key])}")
    for key in PART_FLAGS:
        if part.get(key) is not None and not isinstance(part[key], bool):
            raise ResultsError(f"{where}.{key}: must be true or false, got {_kind(part[key])}")
    for key in PART_MAPPINGS:
        if part.get(key) is not None and not isinstance(part[key], dict):
            raise ResultsError(f"{where}.{key}: must be an object, got {_kind(part[key])}")
    if part.get("threads") is not None:
        _check_number(part["threads"], f"{where}.threads")
    if part.get("format") is not None and (not isinstance(part["format"], int) or isinstance(part["format"], bool)
                                           or part["format"] < 1):
        raise ResultsError(f"{where}.format: must be a results-format version (1, 2, ...), got {part['format']!r:.40}")
    machine = part.get("machine") or {}
    if machine.get("id") is not None and not isinstance(machine["id"], str):
        raise ResultsError(f"{where}.machine.id: must be text, got {_kind(machine['id'])}")
    for key, value in (part.get("timing") or {}).items():
        if key in ("on_contention", "on_instability"):
            if not isinstance(value, str):
                raise ResultsError(f"{where}.timing.{_name(key)}: must be text, got {_kind(value)}")
        elif key == "threads" and isinstance(value, list):
            for i, count in enumerate(value):
                _check_number(count, f"{where}.timing.threads[{i}]")
        elif value is not None and not isinstance(value, bool):
            _check_number(value, f"{where}.timing.{_name(key)}")
    roofline = part.get("roofline")
    if roofline:
        for key in ROOFLINE_NUMBERS:
            _check_number(roofline.get(key), f"{where}.roofline.{key}")
            if roofline[key] <= 0:
                raise ResultsError(f"{where}.roofline.{key}: must be positive")
        if roofline.get("state_probe_ms") is not None:
            _check_number(roofline["state_probe_ms"], f"{where}.roofline.state_probe_ms")
    calibrated = (part.get("state_probe") or {}).get("calibrated_ms")
    if calibrated is not None:
        _check_number(calibrated, f"{where}.state_probe.calibrated_ms")
    for key, value in (part.get("backends") or {}).items():
        if value is not None and not isinstance(value, str):
            raise ResultsError(f"{where}.backends.{_name(key)}: must be text, got {_kind(value)}")
    return part


def _name(key: str) -> str:
    """A key read from a file, as an error names it: as it is when it is a plain name, else quoted
    (a newline or a control character in it cannot break the one line)."""
    return key if key.isidentifier() and key.isascii() else repr(key)[:40]


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"text {value[:30]!r}" if len(value) <= 30 else "text"
    return {dict: "an object", list: "a list", bool: "true/false"}.get(type(value), type(value).__name__)
