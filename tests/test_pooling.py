"""Repeated runs: a run id on every row, each variant printed once per table, and `--pool`, which folds
the runs of one case into one row whose interval is the spread between runs (checked against scipy's
t interval over the runs' log ratios)."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from convbench.cli import main
from convbench.present.report import export
from convbench.store.pooling import pool_repeats
from convbench.store.schema import frame
from tests.run_files import run_document

CONFIG = ("name: r\ntiming: {min_span: 0, min_time: 0.02, rounds: 5, threads: 1, warmup_time: 0.0}\n"
          "shapes: [{in_channels: 8, size: 8}]\nvariants: [conv, depthwise]\n")


def row(case: str, label: str, run: str, latency: float, ratio: float, **fields) -> dict:
    return {**dict(case_id=case, machine="m", run=run, config="r", shape="s", variant=label, label=label, status="ok",
                   device="cpu", dtype="float32", backend="eager", latency_ms=latency, latency_vs_baseline=ratio,
                   runs=10, confidence=0.95, margin=0.05, contended=False), **fields}


def test_pooled_rows_carry_the_spread_between_runs():
    ratios = [0.11, 0.22, 0.15]
    rows = [row("c", "conv", f"r{i}", 1.0 + i, 1.0) for i in range(3)]
    rows += [row("d", "depthwise", f"r{i}", ratio * (1.0 + i), ratio, contended=i == 1) for i, ratio in enumerate(ratios)]
    pooled, folded = pool_repeats(frame(rows))
    assert folded == 4 and list(pooled["label"]) == ["conv", "depthwise"]
    depthwise = pooled[pooled["label"] == "depthwise"].iloc[0]
    logs = [math.log(r) for r in ratios]
    low, high = stats.t.interval(0.95, 2, loc=sum(logs) / 3, scale=stats.sem(logs))
    assert depthwise["latency_vs_baseline"] == pytest.approx(math.exp(sum(logs) / 3))
    assert (depthwise["latency_ratio_low"], depthwise["latency_ratio_high"]) == (pytest.approx(math.exp(low)),
                                                                                 pytest.approx(math.exp(high)))
    assert depthwise["pooled_runs"] == 3 and depthwise["runs"] == 30 and bool(depthwise["contended"])
    assert depthwise["latency_min_ms"] == pytest.approx(0.11) and depthwise["latency_max_ms"] == pytest.approx(0.45)
    assert depthwise["verdict"] == "faster" and depthwise["run_ratios"] == "0.11x, 0.22x, 0.15x"
    conv = pooled[pooled["label"] == "conv"].iloc[0]
    assert conv["latency_vs_baseline"] == 1.0 and conv["latency_ms"] == pytest.approx((1 * 2 * 3) ** (1 / 3))
    assert "pooled (up to 3 runs)" in export(pooled, {"baseline": "conv"}, "markdown")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_two_runs_merge_pooled_and_every_row_names_its_run(tmp_path):
    config = tmp_path / "r.yaml"
    config.write_text(CONFIG)
    for name in ("a", "b"):
        assert invoke("run", config, "--quick", "--out", tmp_path / name).exit_code == 0
    runs = {name: {r["run"] for r in run_document(tmp_path / name)["rows"]} for name in ("a", "b")}
    assert all(len(ids) == 1 for ids in runs.values()) and runs["a"] != runs["b"]
    merged = invoke("merge", tmp_path / "a", tmp_path / "b", "--pool", "-o", tmp_path / "m")
    assert merged.exit_code == 0 and "2 rows of cases measured in several runs pooled" in merged.output
    rows = run_document(tmp_path / "m")["rows"]
    assert len(rows) == 2 and {r["pooled_runs"] for r in rows} == {2}
    assert "pooled over 2 runs" in (tmp_path / "m" / "report.md").read_text()
    unpooled = invoke("export", tmp_path / "a", tmp_path / "b")
    assert "2 rows measured twice on the same machine; kept the first run's (--pool pools them)" in unpooled.output
    table = pd.read_csv(io.StringIO(unpooled.stdout))
    assert set(table["Run"]) == runs["a"] and len(table) == 2


def test_a_variant_measured_again_prints_once_and_says_so(tmp_path):
    config = tmp_path / "r.yaml"
    config.write_text(CONFIG)
    assert invoke("run", config, "--no-timing", "--out", tmp_path / "o").exit_code == 0
    again = invoke("run", config, "--quick", "--resume", tmp_path / "o")  # other settings: other case ids
    assert again.exit_code == 0, again.output
    assert len(run_document(tmp_path / "o")["rows"]) == 4
    for fmt in ("markdown", "latex"):
        text = invoke("export", tmp_path / "o", "--format", fmt).output
        lines = [line for line in text.splitlines() if line.startswith(("| depthwise", "depthwise &"))]
        assert len(lines) == 1 and "2 earlier row(s) of the same variants" in text, text
    assert again.output.count("│ depthwise") == 1  # the resume prints what it measured


def test_rows_saved_before_case_ids_get_the_ids_a_run_gives_them(tmp_path):
    from convbench.store.journal import write_journal
    from convbench.store.merge import merge_runs
    from convbench.plan.legacy_ids import with_case_ids

    config = tmp_path / "r.yaml"
    config.write_text(CONFIG.replace("[conv, depthwise]", "[conv, depthwise, {name: octave, alpha_in: 0.25}, "
                                                          "{name: ac, deploy: true}]").replace("min_span: 0, ", ""))
    assert invoke("run", config, "--no-timing", "--out", tmp_path / "new").exit_code == 0
    document = run_document(tmp_path / "new")
    old = tmp_path / "old"
    old.mkdir()
    rows = [{k: v for k, v in r.items() if k not in ("raw", "case_id", "session", "run")} for r in document["rows"]]
    parts = [{k: v for k, v in p.items() if k != "run"} for p in document["parts"]]
    for part in parts:
        part["timing"] = {k: v for k, v in part["timing"].items() if k != "min_span"}  # as before min_span existed
    write_journal(old / "results.jsonl", parts, rows)
    merged = merge_runs([old])
    assert merged.df["case_id"].isna().all()
    recomputed = with_case_ids(merged.df, merged.metadata)
    assert recomputed["case_id"].notna().all()
    # the new run spread its rounds over 20 s (the default); the old one predates that, so its cases differ
    assert set(recomputed["case_id"]).isdisjoint(r["case_id"] for r in document["rows"])
    for part in parts:
        part["timing"]["min_span"] = 20.0  # the same settings: the same cases
    write_journal(old / "results.jsonl", parts, rows)
    merged = merge_runs([old])
    assert list(with_case_ids(merged.df, merged.metadata)["case_id"]) == [r["case_id"] for r in document["rows"]]
    together = invoke("merge", old, tmp_path / "new", "-o", tmp_path / "m")
    assert together.exit_code == 0 and "4 duplicate rows dropped" in together.output
