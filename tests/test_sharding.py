"""Sweeps past one machine: stable case ids, shards, resume, merge, and machines kept apart."""

from __future__ import annotations

import math
import re
from collections import Counter

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from convbench.cli import main
from convbench.plan.loading import parse_config
from convbench.plan.expand import make_plan
from convbench.plan.sharding import Shard, case_id, parse_shard
from tests.cli_checks import assert_one_line_exit_2
from convbench.store.journal import write_journal
from tests.run_files import run_document

WIDE = {"COLUMNS": "300"}
# Five shapes, so three shards get 2, 2 and 1 of them.
SWEEP = """\
name: sweep
timing: {min_span: 0, min_time: 0.01, rounds: 5, threads: 1, warmup_time: 0.0}
shapes:
  - {in_channels: 8, size: 8}
sweep: {size: [6, 7, 8, 9, 10]}
variants: [conv, depthwise, {name: group, groups: 2}]
"""


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], env=WIDE)
    return result


def case_ids(directory) -> list[str]:
    return list(pd.read_csv(directory / "results.csv")["case_id"])


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP)
    return path


def test_case_ids_are_stable_and_tell_cases_apart():
    suite = parse_config(SWEEP)
    again = parse_config(SWEEP.replace("name: sweep", "name: other"))  # the config's name is not the case
    ids = [c.case_id for c in make_plan(suite).cases]
    assert ids == [c.case_id for c in make_plan(again).cases]
    assert len(set(ids)) == len(ids) == 15
    slower = parse_config(SWEEP.replace("rounds: 5", "rounds: 6"))  # timing settings are part of a case
    assert not set(ids) & make_plan(slower).case_ids
    half = parse_config(SWEEP + "dtype: bfloat16\n")
    assert not set(ids) & make_plan(half).case_ids


@settings(max_examples=200, deadline=None)
@given(count=st.integers(1, 40), sessions_=st.integers(0, 60))
def test_shards_partition_the_sessions_evenly(count, sessions_):
    shares = [[i for i in range(sessions_) if Shard(k, count).takes(i)] for k in range(1, count + 1)]
    assert sorted(i for share in shares for i in share) == list(range(sessions_))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


@given(st.text(max_size=12))
def test_parse_shard_takes_k_of_n_or_says_what_it_expects(text):
    try:
        shard = parse_shard(text)
    except ValueError as error:
        assert "--shard" in str(error)
    else:
        assert 1 <= shard.index <= shard.count and shard.label == f"{shard.index}/{shard.count}"


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "1", "-1/3", ""])
def test_bad_shards_are_one_line_exit_2(config, text):
    assert_one_line_exit_2(invoke("run", config, "--no-timing", "--shard", text), "--shard")


def test_three_shards_merged_are_the_unsharded_run_once_each(config, tmp_path):
    whole = tmp_path / "whole"
    assert invoke("run", config, "--no-timing", "--out", whole).exit_code == 0
    shards = []
    for k in (1, 2, 3):
        out = tmp_path / f"shard{k}"
        result = invoke("run", config, "--no-timing", "--shard", f"{k}/3", "--out", out)
        assert result.exit_code == 0, result.output
        shards.append(out)
    sizes = [len(case_ids(out)) for out in shards]
    assert sizes == [6, 6, 3]  # sessions 1, 4 / 2, 5 / 3, three variants each
    merged = tmp_path / "merged"
    result = invoke("merge", *shards, "-o", merged)
    assert result.exit_code == 0, result.output
    assert "15 rows from 3 runs on 1 machine" in result.output
    assert Counter(case_ids(merged)) == Counter(case_ids(whole)) and len(set(case_ids(merged))) == 15
    assert (merged / "report.md").exists()
    assert_one_line_exit_2(invoke("merge", *shards, "-o", merged), "already exists and is not empty")


def test_a_shard_with_no_sessions_says_so(config, tmp_path):
    result = invoke("run", config, "--no-timing", "--shard", "7/7", "--out", tmp_path / "s")
    assert result.exit_code == 0 and "shard 7/7 has no shapes of this config (it has 5)" in result.output
    assert case_ids(tmp_path / "s") == []


def test_resume_after_an_interruption_runs_only_the_missing_sessions(config, tmp_path, monkeypatch):
    import convbench.suite.recording as recording

    real = recording.run_suite
    out = tmp_path / "o"

    def stop_after_four(*args, **kwargs):  # one session whole, one cut after its first row
        for i, item in enumerate(real(*args, **kwargs)):
            if i == 4:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(recording, "run_suite", stop_after_four)
    assert invoke("run", config, "--out", out).exit_code == 130
    first = pd.read_csv(out / "results.csv")
    assert len(first) == 4
    timed: list[str] = []

    def counting(plan, *args, **kwargs):
        timed.extend(plan.keys)
        yield from real(plan, *args, **kwargs)

    monkeypatch.setattr(recording, "run_suite", counting)
    result = invoke("run", config, "--resume", out)
    assert result.exit_code == 0, result.output
    suite = parse_config(SWEEP)
    assert timed == make_plan(suite).keys[1:]  # the whole session stays; the cut one is timed again
    final = pd.read_csv(out / "results.csv")
    assert Counter(final["case_id"]) == Counter(case_id(suite, shape, "cpu", request) for shape in suite.shapes
                                                for request in dict.fromkeys([suite.baseline, *suite.variants]))
    kept = final[final["session"] == first["session"][0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, first[first["session"] == first["session"][0]].reset_index(drop=True))
    assert "12 rows written" in result.output and "it now holds 15" in result.output
    again = invoke("run", config, "--resume", out)
    assert again.exit_code == 0 and "5 shape(s) already in the directory" in again.output
    assert len(pd.read_csv(out / "results.csv")) == 15


def test_resume_starts_a_directory_with_no_results_and_refuses_the_rest(config, tmp_path):
    for fresh in (tmp_path / "nothing", tmp_path / "empty"):  # a requeued job's first attempt
        (tmp_path / "empty").mkdir(exist_ok=True)
        result = invoke("run", config, "--no-timing", "--resume", fresh)
        assert result.exit_code == 0 and "no results there yet; starting the run in it" in result.output
        assert len(case_ids(fresh)) == 15
    (tmp_path / "file").write_text("x")
    assert_one_line_exit_2(invoke("run", config, "--resume", tmp_path / "file"), "is a file")
    assert_one_line_exit_2(invoke("run", config, "--resume", tmp_path / "empty", "--out", tmp_path / "x"),
                           "drop --out")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.jsonl").write_text("{not json\n")
    assert_one_line_exit_2(invoke("run", config, "--resume", tmp_path / "broken"), "cannot be resumed")


def _as_other_machine(directory, factor: float) -> None:
    """Rewrite a run as if measured on another machine that is ``factor`` times slower."""
    document = run_document(directory)
    for part in [document["metadata"], *document["parts"]]:
        part["host"] = "gpu-node"
        part["machine"] = {**part["machine"], "id": "gpu-node-abc123", "host": "gpu-node"}
    for row in document["rows"]:
        row["machine"] = "gpu-node-abc123"
        if row.get("latency_ms") is not None:
            row["latency_ms"] *= factor * (2 if row["variant"] == "depthwise" else 1)
            if row.get("latency_vs_baseline") is not None and row["variant"] == "depthwise":
                row["latency_vs_baseline"] *= 2
    rows = [{k: v for k, v in row.items() if k != "raw"} for row in document["rows"]]
    write_journal(directory / "results.jsonl", document["parts"], rows, [row["raw"] for row in document["rows"]])
    (directory / "results.csv").unlink()


def test_merging_two_machines_keeps_both_and_divides_within_each(config, tmp_path):
    here, there = tmp_path / "here", tmp_path / "there"
    assert invoke("run", config, "--only", "conv,depthwise", "--out", here).exit_code == 0
    assert invoke("run", config, "--only", "conv,depthwise", "--out", there).exit_code == 0
    _as_other_machine(there, factor=3.0)
    merged = tmp_path / "merged"
    result = invoke("merge", here, there, "-o", merged)
    assert result.exit_code == 0, result.output
    assert "20 rows from 2 runs on 2 machine(s)" in result.output
    df = pd.read_csv(merged / "results.csv")
    assert set(df["machine"]) == {"gpu-node-abc123", pd.read_csv(here / "results.csv")["machine"][0]}
    for (machine, session), rows in df.groupby(["machine", "session"]):
        base = rows[rows["variant"] == "conv"]["latency_ms"].item()
        for row in rows.itertuples():
            assert math.isclose(row.latency_vs_baseline, row.latency_ms / base, rel_tol=1e-9)
    document = run_document(merged)
    assert {part["machine"]["id"] for part in document["parts"]} == set(df["machine"])
    assert all(row["raw"].get("round_ms") for row in document["rows"] if row["latency_ms"] is not None)
    latex = invoke("export", merged, "--format", "latex").output
    assert latex.count(r"\begin{table}") == 10 and "gpu-node" in latex
    plotted = invoke("plot", merged, "-o", tmp_path / "m.svg")
    assert plotted.exit_code == 0, plotted.output
    assert "1x8x6x6 on gpu-node-abc123" in (tmp_path / "m.svg").read_text()  # a panel per shape and machine
    again = invoke("merge", here, here, "-o", tmp_path / "twice")
    assert again.exit_code == 0 and "10 duplicate rows dropped" in again.output
    assert len(pd.read_csv(tmp_path / "twice" / "results.csv")) == 10


def test_export_takes_several_runs_with_a_machine_column(config, tmp_path):
    here, there = tmp_path / "here", tmp_path / "there"
    assert invoke("run", config, "--no-timing", "--only", "conv", "--out", here).exit_code == 0
    assert invoke("run", config, "--no-timing", "--only", "conv", "--out", there).exit_code == 0
    _as_other_machine(there, factor=1.0)
    table = pd.read_csv(__import__("io").StringIO(invoke("export", here, there, "--format", "csv").output))
    assert len(table) == 10 and table["Machine"].nunique() == 2


def test_several_configs_go_into_one_out_directory(config, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(SWEEP.replace("name: sweep", "name: other").replace("[6, 7, 8, 9, 10]", "[12]"))
    out = tmp_path / "both"
    result = invoke("run", config, other, "--no-timing", "--out", out)
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out / "results.csv")
    assert list(dict.fromkeys(df["config"])) == ["sweep", "other"] and len(df) == 18
    parts = run_document(out)["parts"]
    assert [p["config"] for p in parts] == ["sweep", "other"]
    report = (out / "report.md").read_text()
    assert "## sweep on" in report and "## other on" in report


def test_compare_out_saves_like_run(tmp_path):
    out = tmp_path / "c"
    result = invoke("compare", "depthwise", "--shape", "in=8,out=8,k=3,size=8", "--no-timing", "--out", out)
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out / "results.csv")
    assert list(df["variant"]) == ["conv", "depthwise"] and df["case_id"].notna().all()
    assert "convbench compare depthwise" in (out / "report.md").read_text()
    assert_one_line_exit_2(invoke("compare", "depthwise", "--no-timing", "--out", out), "already holds")


def test_sessions_keep_a_shapes_cases_together():
    suite = parse_config(SWEEP)
    plan = make_plan(suite)
    assert [len(session.cases) for session in plan.sessions] == [3] * 5
    assert len(plan.shard(Shard(2, 3)).sessions) == 2


@settings(max_examples=200, deadline=None)
@given(task=st.one_of(st.integers(-2, 12).map(str), st.text(max_size=4)), count=st.integers(0, 10))
def test_slurm_shards_take_their_index_from_the_array_task_and_their_count_from_the_user(task, count):
    try:
        shard = parse_shard(f"slurm/{count}", {"SLURM_ARRAY_TASK_ID": task})
    except ValueError as error:
        assert str(error).startswith(f"--shard 'slurm/{count}': ") and len(str(error).splitlines()) == 1
        assert not (re.fullmatch(r"[0-9]+", task) and 1 <= int(task) <= count)
    else:
        assert (shard.index, shard.count) == (int(task), count)


def test_slurm_shard_needs_n_and_an_array_task_counted_from_1():
    # $SLURM_ARRAY_TASK_COUNT is 1 when one shard is re-submitted (--array=3): never the total
    with pytest.raises(ValueError, match="give the number of shards"):
        parse_shard("slurm", {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "1"})
    assert parse_shard("slurm/8", {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "1"}) == Shard(3, 8)
    with pytest.raises(ValueError, match="not a task of a SLURM job array"):
        parse_shard("slurm/8", {})
    with pytest.raises(ValueError, match=r"id is 0, and shards are counted from 1 to 8: submit with --array=1-8"):
        parse_shard("slurm/8", {"SLURM_ARRAY_TASK_ID": "0"})  # --array=0-7


def test_run_takes_its_shard_from_the_array_task(config, tmp_path):
    result = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--shard", "slurm/3", "--out",
                                       str(tmp_path / "s")], env={**WIDE, "SLURM_ARRAY_TASK_ID": "3"})
    assert result.exit_code == 0, result.output
    whole = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--shard", "3/3", "--out",
                                      str(tmp_path / "k")], env=WIDE)
    assert whole.exit_code == 0 and case_ids(tmp_path / "s") == case_ids(tmp_path / "k") and len(case_ids(tmp_path / "k")) == 3
    refused = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--shard", "slurm/3"], env={**WIDE, "SLURM_ARRAY_TASK_ID": "4"})
    assert_one_line_exit_2(refused, "--shard 'slurm/3': this array task's id is 4")


def measured_elsewhere(directory, machine: str = "node-7-0a1b2c") -> str:
    """The run's rows and parts as if another machine had measured them (a job requeued onto another node)."""
    here = pd.read_csv(directory / "results.csv")["machine"][0]
    for name in ("results.jsonl", "results.csv"):
        path = directory / name
        path.write_text(path.read_text().replace(here, machine))
    return here


def test_a_resume_on_another_machine_says_it_runs_the_others_rows_again(config, tmp_path):
    out = tmp_path / "o"
    assert invoke("run", config, "--no-timing", "--shard", "1/2", "--out", out).exit_code == 0
    measured_elsewhere(out)
    result = invoke("run", config, "--no-timing", "--shard", "1/2", "--resume", out)
    assert result.exit_code == 0, result.output
    assert "warning: 9 finished cases were measured on another machine (node-7-0a1b2c), not this one" in result.output
    assert "--resume-any-machine" in result.output
    assert Counter(case_ids(out)).most_common(1)[0][1] == 2 and len(case_ids(out)) == 18  # each machine's row


def test_resume_any_machine_keeps_counting_rows_of_any_machine_and_only_those(config, tmp_path):
    out = tmp_path / "o"
    assert invoke("run", config, "--no-timing", "--shard", "1/2", "--out", out).exit_code == 0
    measured_elsewhere(out)
    result = invoke("run", config, "--no-timing", "--shard", "1/2", "--resume", out, "--resume-any-machine")
    assert result.exit_code == 0, result.output
    assert "another machine" not in result.output and len(case_ids(out)) == 9
    assert_one_line_exit_2(invoke("run", config, "--shard", "1/2", "--resume", out, "--resume-any-machine"),
                           "--resume-any-machine: only with --resume and --no-timing")
