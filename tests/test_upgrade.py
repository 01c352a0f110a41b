"""Runs saved in an earlier results format read as the current one, by one upgrade: committed runs
of format 1 (before parts recorded their format), a hand-written format-1 journal, and a part of a
newer format refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from convbench.store.files import load_results
from convbench.store.metadata import MACHINE_KEYS
from convbench.store.upgrade import FORMAT
from convbench.store.validation import ResultsError, check_part
from tests.run_files import run_document

RESULTS = Path(__file__).resolve().parent.parent / "results"
FORMAT_1 = sorted(path.parent for path in RESULTS.glob("*/results.json"))


def fingerprint_id(part: dict) -> str:
    """A machine id as the results format defines it: the host, then the first 6 hex digits of the
    SHA-256 of the machine's keys as sorted JSON (written out here, not taken from the code)."""
    keys = {key: part.get(key) for key in MACHINE_KEYS}
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()[:6]
    return f"{part['host']}-{digest}"


@pytest.mark.parametrize("run", FORMAT_1, ids=[run.name for run in FORMAT_1])
def test_a_committed_run_of_format_1_reads_with_machine_ids_runtimes_and_replicates(run):
    saved = json.loads((run / "results.json").read_text())
    assert all("format" not in part for part in saved.get("parts", [saved["metadata"]]))
    df, metadata = load_results(run)
    assert all(part["format"] == FORMAT for part in metadata["parts"])
    machines = {part.get("config"): fingerprint_id(part) for part in metadata["parts"]}
    for row, old in zip(df.to_dict("records"), saved["rows"]):
        assert row["machine"] == (old.get("machine") or machines[row["config"]])
        assert row["backend"] == (old.get("backend") or "eager")
        if isinstance(row["verdict"], str):
            processes = int(old.get("processes") or 1)
            assert row["ratio_replicates"] == (min(processes, old["rounds"]) if processes > 1 else old["rounds"])


def test_a_format_1_journal_gets_its_part_machine_and_its_rows_runtime(tmp_path):
    part = {"config": "c", "host": "box", "cpu_model": "cpu", "cpu_count": 2, "threads": 1, "python": "3.11",
            "torch": "2.13.0", "baseline": "conv"}
    row = {"variant": "conv", "label": "conv", "shape": "s", "status": "ok", "config": "c", "rounds": 6,
           "processes": 3, "latency_vs_baseline": 1.2, "latency_ratio_low": 1.1, "latency_ratio_high": 1.3,
           "p_value": 0.01, "verdict": "slower", "confidence": 0.95, "margin": 0.05}
    (tmp_path / "results.jsonl").write_text(json.dumps({"part": part}) + "\n" + json.dumps({"row": row}) + "\n")
    df, metadata = load_results(tmp_path)
    (read,) = df.to_dict("records")
    assert metadata["parts"][0]["machine"]["id"] == read["machine"] == fingerprint_id(part)
    assert read["backend"] == "eager" and read["ratio_replicates"] == 3


def test_a_part_of_a_newer_format_is_refused_in_one_line(tmp_path):
    (tmp_path / "results.jsonl").write_text(json.dumps({"part": {"config": "c", "format": FORMAT + 1}}) + "\n")
    with pytest.raises(ResultsError) as error:
        load_results(tmp_path)
    message = str(error.value)
    assert f"format {FORMAT + 1}" in message and "upgrade convbench" in message and "\n" not in message


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.booleans(), st.floats(allow_nan=True), st.text(max_size=5), st.integers(max_value=0),
                 st.lists(st.integers(), max_size=2)))
def test_a_format_that_is_not_a_version_is_refused(value):
    with pytest.raises(ResultsError, match="format: must be a results-format version"):
        check_part({"format": value}, "part")


def test_a_new_run_records_the_current_format(tmp_path):
    from click.testing import CliRunner

    from convbench.cli import main

    config = tmp_path / "c.yaml"
    config.write_text("name: c\nshapes: [{in_channels: 4, size: 6}]\nvariants: [depthwise]\n")
    result = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert [part["format"] for part in run_document(tmp_path / "o")["parts"]] == [FORMAT]
