"""Reading a run directory's files in tests, as a user's own script would."""

from __future__ import annotations

from pathlib import Path

from convbench.store.journal import read_journal


def run_document(directory: Path) -> dict:
    """A run's results.jsonl as one document: the first part's metadata, every part, and the rows
    with their raw timings."""
    contents = read_journal(Path(directory) / "results.jsonl", keep_raw=True)
    rows = [{**row, "raw": raw} for row, raw in zip(contents.rows, contents.raw)]
    return {"metadata": contents.parts[0] if contents.parts else {}, "parts": contents.parts, "rows": rows}
