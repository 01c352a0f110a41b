"""A fuzzer of results files: a real run's results.jsonl and results.csv, mutated (a value replaced by
any JSON value, a key removed or added, a record duplicated, its kind changed, the file cut short or
given garbage), through export (every format, and pooled), report (Markdown and HTML), merge, plot
and --resume. Every outcome must be
success or one line naming the problem with exit code 2: never a traceback.

CI runs 40 mutated runs in four shares that parallel workers take apart (about a minute here);
``CONVBENCH_FUZZ_EXAMPLES=2000`` runs more."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convbench.cli import main

EXAMPLES = int(os.environ.get("CONVBENCH_FUZZ_EXAMPLES", "40"))
CONFIG = ("name: fuzz\ntiming: {min_span: 0, min_time: 0.02, rounds: 5, threads: 1, warmup_time: 0.0}\n"
          "shapes: [{in_channels: 4, size: 6}, {in_channels: 4, size: 8}]\nvariants: [conv, depthwise]\n")

SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=12) | st.sampled_from([10**400, -1, 0, "", "ok", "error", "abc", "=1+1", "$x$"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("fuzz")
    config = root / "fuzz.yaml"
    config.write_text(CONFIG)
    result = CliRunner().invoke(main, ["run", str(config), "--quick", "--out", str(root / "run")])
    assert result.exit_code == 0, result.output
    return root / "run", config


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, prefix + (key,))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _paths(inner, prefix + (i,))


def _set(value, path, new):
    if not path:
        return new
    value = json.loads(json.dumps(value))
    target = value
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return value


def _delete(value, path):
    value = json.loads(json.dumps(value))
    target = value
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return value


@st.composite
def mutations(draw, journal: bytes, csv_text: str):
    """A mutated (journal bytes, csv text) and what was done, for the failure message."""
    records = [json.loads(line) for line in journal.splitlines()]
    kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "duplicate", "rename",
                                 "cut", "garbage", "csv_cell", "csv_cut"]))
    index = draw(st.integers(0, len(records) - 1))
    record = records[index]
    if kind in ("replace", "delete"):
        paths = [p for p in _paths(record) if p or kind == "replace"]
        path = draw(st.sampled_from(paths))
        records[index] = _set(record, path, draw(VALUES)) if kind == "replace" else _delete(record, path)
        what = f"{kind} {path}"
    elif kind == "add":
        (name, value), = record.items()
        records[index] = {name: {**value, draw(st.text(max_size=10)): draw(VALUES)}}
        what = "add a key"
    elif kind == "duplicate":
        records.insert(draw(st.integers(0, len(records))), record)
        what = f"duplicate {index}"
    elif kind == "rename":
        (name, value), = record.items()
        records[index] = {draw(st.sampled_from(["part", "row", "drop", "part_update", "rows", ""])): value}
        what = f"rename {index}"
    text = b"".join(json.dumps(r).encode() + b"\n" for r in records) if kind not in ("cut", "garbage") else journal
    if kind == "cut":
        text = journal[:draw(st.integers(0, len(journal)))]
        what = f"cut at {len(text)}"
    elif kind == "garbage":
        at = draw(st.integers(0, len(journal)))
        text = journal[:at] + draw(st.binary(min_size=1, max_size=20)) + journal[at:]
        what = f"garbage at {at}"
    if kind == "csv_cell":
        lines = csv_text.splitlines()
        row = draw(st.integers(0, len(lines) - 1))
        cells = lines[row].split(",")
        cell = draw(st.integers(0, len(cells) - 1))
        cells[cell] = draw(st.text(max_size=10).map(lambda t: json.dumps(t)))
        lines[row] = ",".join(cells)
        return journal, "\n".join(lines) + "\n", f"csv cell {row},{cell}"
    if kind == "csv_cut":
        at = draw(st.integers(0, len(csv_text)))
        return journal, csv_text[:at], f"csv cut at {at}"
    return text, csv_text, what


def check(result, command, what):
    assert result.exit_code in (0, 2), (what, command, result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output, (what, command, result.output)
    if result.exit_code == 2:
        assert len(result.output.strip().splitlines()) == 1 or "warning:" in result.output, (what, command,
                                                                                                result.output)


@pytest.mark.parametrize("share", range(4))
def test_mutated_results_files_are_refused_in_one_line_or_read(base, tmp_path_factory, share):
    run, config = base
    journal, csv_text = (run / "results.jsonl").read_bytes(), (run / "results.csv").read_text()
    runner = CliRunner()

    @settings(max_examples=max(1, EXAMPLES // 4), deadline=None, suppress_health_check=list(HealthCheck))
    @given(mutated=mutations(journal, csv_text))
    def fuzz(mutated):
        text, csv_mutated, what = mutated
        root = tmp_path_factory.mktemp("case")
        directory = root / "run"
        directory.mkdir()
        (directory / "results.jsonl").write_bytes(text)
        (directory / "results.csv").write_text(csv_mutated)
        for fmt in ("csv", "markdown", "latex", "json"):
            check(runner.invoke(main, ["export", str(directory), "--format", fmt]), f"export {fmt}", what)
        merged = runner.invoke(main, ["merge", str(directory), "-o", str(root / "merged")])
        check(merged, "merge", what)
        if merged.exit_code == 0:
            check(runner.invoke(main, ["export", str(root / "merged")]), "export merged", what)
        check(runner.invoke(main, ["export", str(directory), "--pool", "--format", "markdown"]), "export --pool", what)
        for report in (["report", str(directory)], ["report", str(directory), "--html", "-o", str(root / "r.html")]):
            check(runner.invoke(main, report), " ".join(report[::2]), what)
        check(runner.invoke(main, ["plot", str(directory), "-o", str(root / "p.png")]), "plot", what)
        check(runner.invoke(main, ["run", str(config), "--no-timing", "--resume", str(directory)]), "resume", what)
        shutil.rmtree(root, ignore_errors=True)

    fuzz()


def _edited(run: Path, kind: str, edit) -> str:
    """The run's results.jsonl with ``edit`` applied to every record of ``kind`` (part or row)."""
    lines = []
    for line in (run / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        if kind in record:
            edit(record[kind])
        lines.append(json.dumps(record))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("fmt", ["markdown", "latex", "csv", "json"])
def test_a_row_without_its_dtype_exports(base, tmp_path, fmt):
    """Found by the fuzzer: a row whose dtype was deleted made the table's title fail to build."""
    run, _ = base
    (tmp_path / "results.jsonl").write_text(_edited(run, "row", lambda row: row.pop("dtype", None)))
    result = CliRunner().invoke(main, ["export", str(tmp_path), "--format", fmt])
    assert result.exit_code == 0, result.output
    if fmt == "markdown":
        assert "dtype not recorded" in result.output


@pytest.mark.parametrize("value", [[None], "1.2", {"ms": 1}, True])
def test_a_calibrated_state_probe_level_that_is_not_a_number_is_refused(base, tmp_path, value):
    """Found by the fuzzer: a list as the part's state_probe.calibrated_ms crashed merge's report."""
    run, _ = base
    directory = tmp_path / "run"
    directory.mkdir()
    (directory / "results.jsonl").write_text(
        _edited(run, "part", lambda part: part["state_probe"].update(calibrated_ms=value)))
    (directory / "results.csv").write_text((run / "results.csv").read_text())
    result = CliRunner().invoke(main, ["merge", str(directory), "-o", str(tmp_path / "merged")])
    check(result, "merge", "calibrated_ms")
    assert result.exit_code == 2 or "reading" in result.output, result.output
