"""Where a run writes and what survives: a config's name cannot steer the path, a second run never
truncates the first, output problems are one line (exit 2), and results.jsonl is always JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from convbench.cli import main
from convbench.store.files import ResultWriter, run_directory_name
from tests.run_files import run_document

CONFIG = "name: {name}\nshapes: [{{in_channels: 8, size: 8}}]\nvariants: [conv, depthwise]\n"


def write_config(tmp_path, name="tiny"):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(name=json.dumps(name)))
    return path


def invoke(*args):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("name", ["../../escaped", "/abs/path", "..", "a/b\\c", "...", ""])
def test_a_config_name_cannot_steer_the_output_path(tmp_path, monkeypatch, name):
    directory = run_directory_name(name, "20260101-000000")
    assert "/" not in directory and "\\" not in directory and not directory.startswith(".")
    if not name:
        return  # an empty name is refused by the config itself
    monkeypatch.chdir(tmp_path)
    result = invoke("run", str(write_config(tmp_path, name)), "--no-timing")
    assert result.exit_code == 0, result.output
    (written,) = (tmp_path / "results").iterdir()
    assert written.parent == tmp_path / "results"


def test_a_second_run_into_the_same_out_is_refused_and_the_first_keeps_its_rows(tmp_path):
    config = write_config(tmp_path)
    assert invoke("run", str(config), "--no-timing", "--out", str(tmp_path / "o")).exit_code == 0
    result = invoke("run", str(config), "--no-timing", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "already holds a run's results" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert len(pd.read_csv(tmp_path / "o" / "results.csv")) == 2


def test_two_runs_started_together_never_lose_rows(tmp_path):
    config = write_config(tmp_path)
    command = [sys.executable, "-m", "convbench", "run", str(config), "--no-timing", "--out", str(tmp_path / "o")]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = sorted((run.wait(timeout=300), run.stderr.read()) for run in runs)
    assert [code for code, _ in outcomes] == [0, 2], outcomes
    assert "Traceback" not in outcomes[1][1] and ("another convbench run" in outcomes[1][1]
                                                  or "already holds" in outcomes[1][1])
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    assert list(df["variant"]) == ["conv", "depthwise"]
    assert len(run_document(tmp_path / "o")["rows"]) == 2
    assert not (tmp_path / "o" / ResultWriter.LOCK).exists()
    assert not [p for p in (tmp_path / "o").iterdir() if p.name.endswith(".tmp")]


def test_a_stale_lock_from_a_dead_run_is_taken_over(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ResultWriter.LOCK).write_text(str(dead.pid))
    result = invoke("run", str(write_config(tmp_path)), "--no-timing", "--out", str(out))
    assert result.exit_code == 0, result.output


def test_out_inside_a_file_is_one_line_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in (blocker, blocker / "sub"):
        result = invoke("run", str(write_config(tmp_path)), "--no-timing", "--out", str(out))
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_is_one_line_exit_2(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        result = invoke("run", str(write_config(tmp_path)), "--no-timing", "--out", str(out))
    finally:
        out.chmod(0o700)
    assert result.exit_code == 2 and "cannot write" in result.output


def test_a_full_disk_mid_run_keeps_the_rows_written_and_says_the_run_was_cut_short(tmp_path, monkeypatch):
    real_add = ResultWriter.add

    def add(self, row, raw=None):
        if self.rows:
            raise OSError(28, "No space left on device")
        real_add(self, row, raw)

    monkeypatch.setattr(ResultWriter, "add", add)
    result = invoke("run", str(write_config(tmp_path)), "--no-timing", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "No space left on device" in result.output and "cut short" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert len(pd.read_csv(tmp_path / "o" / "results.csv")) == 1
    document = run_document(tmp_path / "o")
    assert len(document["rows"]) == 1 and "cut short" in document["metadata"]["stopped"]
    assert "cut short" in (tmp_path / "o" / "report.md").read_text()


def test_results_jsonl_never_holds_nan(tmp_path):
    writer = ResultWriter(tmp_path / "o")
    writer.begin({"x": float("nan")})
    writer.add({"variant": "conv", "label": "conv", "shape": "s", "status": "ok", "latency_ms": float("inf"),
                "macs": 5}, {"round_ms": [1.0, float("nan")]})
    writer.finish()
    text = (tmp_path / "o" / "results.jsonl").read_text()
    assert "NaN" not in text and "Infinity" not in text
    row = run_document(tmp_path / "o")["rows"][0]
    assert row["latency_ms"] is None and row["raw"]["round_ms"] == [1.0, None] and row["macs"] == 5


SLOW = ("name: slow\ntiming: {min_span: 0, min_time: 2.0, rounds: 5, threads: 1, warmup_time: 0.0}\n"
        "shapes: [{in_channels: 8, size: 8}, {in_channels: 8, size: 16}, {in_channels: 8, size: 24}]\n"
        "variants: [conv, depthwise]\n")


@pytest.mark.parametrize("signals", [["SIGTERM"], ["SIGINT", "SIGINT"], ["SIGTERM", "SIGINT"]])
def test_a_stopped_run_leaves_whole_files_and_a_report(tmp_path, signals):
    import signal
    import time

    config = tmp_path / "slow.yaml"
    config.write_text(SLOW)
    out = tmp_path / "o"
    run = subprocess.Popen([sys.executable, "-m", "convbench", "run", str(config), "--out", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until the first shape's rows are on disk
        csv_path = out / "results.csv"
        if csv_path.exists() and len(csv_path.read_text().splitlines()) >= 3:
            break
        time.sleep(0.1)
    for name in signals:
        run.send_signal(getattr(signal, name))
        time.sleep(0.02)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr
    document = run_document(out)
    assert document["metadata"]["interrupted"] is True and 2 <= len(document["rows"]) < 6
    assert len(pd.read_csv(out / "results.csv")) == len(document["rows"])
    assert "interrupted" in (out / "report.md").read_text()
    assert not (out / ResultWriter.LOCK).exists()
