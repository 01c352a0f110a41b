"""A results file is only data and nothing a run wrote is lost: each malformed or hostile file is one
line naming the file and the field (exit 2) in export, merge, plot and --resume; special files are
refused without being read; -o never replaces a run's own files; a resume reconciles results.csv with
results.jsonl or refuses; rows are appended, never rewritten; files follow the umask."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from convbench.cli import main
from convbench.store.files import load_results
from convbench.store.merge import merge_runs, write_merged
from convbench.store.files import OutputError
from tests.cli_checks import assert_one_line_exit_2
from tests.run_files import run_document

CONFIG = ("name: tiny\ntiming: {min_span: 0, min_time: 0.02, rounds: 5, threads: 1, warmup_time: 0.0}\n"
          "shapes: [{in_channels: 8, size: 8}, {in_channels: 8, size: 12}]\nvariants: [conv, depthwise]\n")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> tuple[Path, Path]:
    """A timed run of two shapes (4 rows), and its config."""
    root = tmp_path_factory.mktemp("base")
    config = root / "tiny.yaml"
    config.write_text(CONFIG)
    result = invoke("run", config, "--quick", "--out", root / "run")
    assert result.exit_code == 0, result.output
    return root / "run", config


def copy_run(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for name in ("results.jsonl", "results.csv", "report.md", "report.html"):
        (target / name).write_bytes((source / name).read_bytes())
    return target


def one_row_document(base_run, **changes) -> dict:
    document = run_document(base_run[0])
    part, row = document["parts"][0], {k: v for k, v in document["rows"][0].items() if k != "raw"}
    for key, value in changes.items():
        if key.startswith("part."):
            part[key[5:]] = value
        else:
            row[key] = value
    return {"part": part, "row": row}


HOSTILE = {
    "config as a list": {"config": ["a"]},
    "case_id as a list": {"case_id": ["x"]},
    "a part's config as a list": {"part.config": ["a"]},
    "macs as text": {"macs": "abc"},
    "a 400-digit integer": {"macs": 10**400},
    "timing as text": {"part.timing": "fast"},
    "a roofline without its peaks": {"part.roofline": {"state_probe_ms": 0.05}},
    "convs_replaced as text": {"convs_replaced": "abc"},
    "latency as an object": {"latency_ms": {"a": 1}},
    "session as a list": {"session": []},
    "status unknown": {"status": "fine"},
    "contended as text": {"contended": "yes"},
}


def journal_text(document: dict) -> str:
    return json.dumps({"part": document["part"]}) + "\n" + json.dumps({"row": document["row"]}) + "\n"


def commands(directory: Path, config: Path, tmp_path: Path) -> list[list]:
    return [["export", directory, "--format", fmt] for fmt in ("csv", "markdown", "latex", "json")] + [
        ["merge", directory, "-o", tmp_path / "merged"], ["plot", directory, "-o", tmp_path / "p.svg"],
        ["run", config, "--no-timing", "--resume", directory]]


@pytest.mark.parametrize("file", ["results.jsonl", "results.json"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_malformed_row_or_part_is_one_line_everywhere(base_run, tmp_path, name, file):
    document = one_row_document(base_run, **HOSTILE[name])
    directory = tmp_path / "run"
    directory.mkdir()
    if file == "results.jsonl":
        (directory / file).write_text(journal_text(document))
    else:  # as runs were saved before results.jsonl
        legacy = {"metadata": document["part"], "parts": [document["part"]], "rows": [document["row"]]}
        (directory / file).write_text(json.dumps(legacy))
    for command in commands(directory, base_run[1], tmp_path):
        result = invoke(*command)
        assert_one_line_exit_2(result, str(directory / file))
        assert not (tmp_path / "merged").exists()


@pytest.mark.parametrize("text,fragment", [
    ('{"rows": 5}', "not a convbench results.json"),
    ('{"rows": [], "parts": 5}', "parts: must be a list"),
    ('{"rows": [{"variant": "v", "label": "l", "shape": "s", "status": "ok", "macs": ' + "9" * 5000 + '}]}',
     "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "nested deeper than 64 levels"),
    ('{"rows": [{"variant": "v", "label": "l", "shape": "s", "status": "ok", "macs": NaN}]}', "NaN is not a JSON number"),
])
def test_malformed_json_documents_are_one_line(tmp_path, text, fragment):
    path = tmp_path / "results.json"
    path.write_text(text)
    assert_one_line_exit_2(invoke("export", path), str(path), fragment)
    assert_one_line_exit_2(invoke("plot", path), str(path), fragment)


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo"])
def test_special_files_are_refused_without_reading(tmp_path, special):
    directory = tmp_path / "run"
    directory.mkdir()
    if special == "fifo":
        os.mkfifo(directory / "results.jsonl")
    else:
        (directory / "results.jsonl").symlink_to(special)
    (tmp_path / "c.yaml").write_text(CONFIG)
    for command in (["export", directory], ["merge", directory, "-o", tmp_path / "m"], ["plot", directory],
                    ["run", tmp_path / "c.yaml", "--resume", directory, "--no-timing"]):
        result = subprocess.run([sys.executable, "-m", "convbench", *map(str, command)], capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 2 and "not a regular file" in result.stderr, (command, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_the_size_limit_is_one_line_and_can_be_raised(base_run, tmp_path):
    directory = copy_run(base_run[0], tmp_path / "run")
    with open(directory / "results.jsonl", "a") as f:
        f.write(" " * (2 << 20) + "\n")
    assert_one_line_exit_2(invoke("export", directory, "--max-size", "1"), "more than the limit", "--max-size 3")
    assert invoke("export", directory, "--max-size", "3").exit_code == 0


@pytest.mark.parametrize("name", ["results.jsonl", "results.csv", "report.md", "report.html", "results.json"])
def test_export_never_writes_over_a_runs_files(base_run, tmp_path, name):
    directory = copy_run(base_run[0], tmp_path / "run")
    (directory / "results.json").write_text("{}")
    before = (directory / name).read_bytes()
    assert_one_line_exit_2(invoke("export", directory, "--format", "latex", "-o", directory / name), "own")
    assert_one_line_exit_2(invoke("report", directory, "--html", "-o", directory / name), "own")
    assert (directory / name).read_bytes() == before
    assert_one_line_exit_2(invoke("export", directory / "results.csv", "-o", directory / "results.csv"), "own")


def test_resume_refuses_a_csv_the_journal_does_not_hold(base_run, tmp_path):
    directory = copy_run(base_run[0], tmp_path / "run")
    first = (directory / "results.jsonl").read_text().splitlines()[0]
    (directory / "results.jsonl").write_text(first + "\n")  # the part, none of the rows
    csv_before = (directory / "results.csv").read_bytes()
    result = invoke("run", base_run[1], "--no-timing", "--resume", directory)
    assert_one_line_exit_2(result, "results.csv holds 4 rows and results.jsonl 0")
    assert (directory / "results.csv").read_bytes() == csv_before


def test_resume_restores_csv_rows_the_journal_holds(base_run, tmp_path):
    directory = copy_run(base_run[0], tmp_path / "run")
    lines = (directory / "results.csv").read_text().splitlines(keepends=True)
    (directory / "results.csv").write_text("".join(lines[:-1]))  # stopped between the two appends
    result = invoke("run", base_run[1], "--quick", "--resume", directory)
    assert result.exit_code == 0 and "added them" in result.output, result.output
    assert len(pd.read_csv(directory / "results.csv")) == 4


def test_a_whole_last_csv_row_without_its_newline_is_kept(base_run, tmp_path):
    directory = copy_run(base_run[0], tmp_path / "run")
    text = (directory / "results.csv").read_text()
    (directory / "results.csv").write_text(text.rstrip("\n"))
    warnings = []
    df, _ = load_results(directory / "results.csv", warnings.append)
    assert len(df) == 4 and warnings == []
    result = invoke("run", base_run[1], "--quick", "--resume", directory)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(directory / "results.csv")) == 4


def test_a_resume_appends_and_keeps_every_earlier_byte(base_run, tmp_path):
    directory = copy_run(base_run[0], tmp_path / "run")
    journal = (directory / "results.jsonl").read_bytes()
    lines = journal.splitlines(keepends=True)
    (directory / "results.jsonl").write_bytes(b"".join(lines[:3]) + lines[3][:40])  # cut short mid-row
    kept = b"".join(lines[:3])
    csv_lines = (directory / "results.csv").read_text().splitlines(keepends=True)
    (directory / "results.csv").write_text("".join(csv_lines[:3]))  # the CSV is appended after the journal
    result = invoke("run", base_run[1], "--quick", "--resume", directory)
    assert result.exit_code == 0 and "cut short" in result.output, result.output
    after = (directory / "results.jsonl").read_bytes()
    assert after.startswith(kept) and after.count(b"\n") > kept.count(b"\n")
    rows = run_document(directory)["rows"]
    assert sorted(row["case_id"] for row in rows) == sorted(row["case_id"] for row in run_document(base_run[0])["rows"])


def test_a_run_saved_as_results_json_resumes(base_run, tmp_path):
    directory = tmp_path / "old"
    directory.mkdir()
    document = run_document(base_run[0])
    document["rows"] = document["rows"][:2]  # the first shape only
    (directory / "results.json").write_text(json.dumps(document))
    result = invoke("run", base_run[1], "--quick", "--resume", directory)
    assert result.exit_code == 0, result.output
    assert len(run_document(directory)["rows"]) == 4 and (directory / "results.before-resume.json").exists()


def test_a_failed_merge_leaves_nothing_and_can_be_run_again(base_run, tmp_path):
    merged = merge_runs([base_run[0]])
    out = tmp_path / "merged"

    def failing_report(df, metadata):
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="No space left"):
        write_merged(merged, [base_run[0]], out, failing_report)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if "merging" in p.name]
    assert invoke("merge", base_run[0], "-o", out).exit_code == 0


@pytest.mark.parametrize("umask,mode", [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_files_follow_the_umask(base_run, tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        assert invoke("run", base_run[1], "--no-timing", "--out", tmp_path / "o").exit_code == 0
        assert invoke("merge", tmp_path / "o", "-o", tmp_path / "m").exit_code == 0
        assert invoke("export", tmp_path / "o", "-o", tmp_path / "t.tex", "--format", "latex").exit_code == 0
    finally:
        os.umask(previous)
    files = [tmp_path / "o" / name for name in ("results.jsonl", "results.csv", "report.md", "report.html")]
    files += [tmp_path / "m" / "results.jsonl", tmp_path / "m" / "report.html", tmp_path / "t.tex"]
    assert {oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {oct(mode)}
    assert stat.S_IMODE((tmp_path / "m").stat().st_mode) == 0o777 & ~umask
