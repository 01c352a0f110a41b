"""Numbers as a paper and a spreadsheet need them: the CSV export at full precision with counts as
integers and flags as booleans, a merged run's results.csv identical in its counts to the run it was
sharded from, and a latency's spread to the same decimal place as the latency."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from convbench.cli import main
from convbench.present.formatting import with_spread
from convbench.present.report import export
from convbench.store.schema import INTEGER_COLUMNS, frame

CONFIG = ("name: n\ntiming: {min_span: 0, min_time: 0.02, rounds: 5, threads: 1, warmup_time: 0.0}\n"
          "shapes: [{in_channels: 8, size: 8}, {in_channels: 8, size: 12}, {in_channels: 16, size: 8}]\n"
          "variants: [conv, depthwise, separable]\n")


def row(**fields) -> dict:
    return {"case_id": "c", "machine": "m", "config": "n", "shape": "s", "variant": "v", "label": "v", "status": "ok",
            "device": "cpu", "dtype": "float32", "backend": "eager", **fields}


def test_the_csv_export_keeps_every_digit_counts_and_flags():
    rows = [row(latency_ms=1.3098162569457046, params=36864, macs=115605504, contended=False, unstable=True),
            row(case_id="d", latency_ms=None, params=None, macs=None, contended=None)]
    records = list(csv.DictReader(io.StringIO(export(frame(rows), {}, "csv", digits=2), newline="")))
    assert records[0]["Latency (ms)"] == "1.3098162569457046"
    assert (records[0]["Params"], records[0]["MACs"]) == ("36864", "115605504")
    assert (records[0]["Contended"], records[0]["Unstable"]) == ("False", "True")
    assert (records[1]["Params"], records[1]["Contended"]) == ("", "")


@pytest.mark.parametrize("value,spread,digits,text", [
    (1.31, 0.25, 3, "1.31±0.25"), (1.31, 0.25, 2, "1.3±0.2"), (0.205, 0.17, 3, "0.205±0.170"),
    (1150.0, 230.0, 3, "1,150±230"), (1.31, 0.0001, 3, "1.31±0.0001"), (1.31, None, 3, "1.31"),
])
def test_a_spread_has_the_values_last_decimal_place(value, spread, digits, text):
    assert with_spread(value, spread, digits) == text


def test_digits_apply_to_both_sides_of_the_spread():
    markdown = export(frame([row(latency_ms=1.31, latency_iqr_ms=0.25, params=1, macs=1)]), {}, "markdown", digits=2)
    assert "1.3 ± 0.2" in markdown and "0.25" not in markdown


def test_a_merged_csv_has_the_counts_of_the_unsharded_run(tmp_path):
    config = tmp_path / "n.yaml"
    config.write_text(CONFIG)
    runner = CliRunner()
    for args in (["--out", tmp_path / "whole"], ["--shard", "1/2", "--out", tmp_path / "a"],
                 ["--shard", "2/2", "--out", tmp_path / "b"]):
        assert runner.invoke(main, ["run", str(config), "--no-timing", *map(str, args)]).exit_code == 0
    assert runner.invoke(main, ["merge", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "m")]).exit_code == 0
    whole = pd.read_csv(tmp_path / "whole" / "results.csv", dtype=str).set_index("case_id")
    merged = pd.read_csv(tmp_path / "m" / "results.csv", dtype=str).set_index("case_id")
    counts = sorted(INTEGER_COLUMNS & set(whole.columns) - {"threads"})
    assert sorted(merged.index) == sorted(whole.index)
    assert merged.loc[whole.index, counts].fillna("").equals(whole[counts].fillna(""))
    assert not merged[counts].fillna("").apply(lambda column: column.str.contains(".", regex=False)).any().any()


def test_a_network_row_has_no_formula_to_check(tmp_path):
    config = tmp_path / "m.yaml"
    config.write_text("models: [{name: resnet18, size: 64}]\nvariants: [conv, separable]\n")
    result = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--json", "--out", str(tmp_path / "o")])
    rows = json.loads(result.stdout)["rows"]
    assert {row["formula_check"] for row in rows} == {"n/a"} and all(row["macs_formula"] is None for row in rows)
    assert "n/a" not in (tmp_path / "o" / "report.md").read_text()


def test_ops_without_a_cost_entry_are_named_in_the_notes_the_report_and_the_csv(tmp_path):
    net = Path(__file__).parent / "data" / "user_net.py"
    result = CliRunner().invoke(main, ["compare", "conv", "--model", f"{net}:with_layer_norm", "--input", "3,8,8",
                                       "--no-timing", "--out", str(tmp_path / "o")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    said = "no element-op count for aten.native_layer_norm"
    assert said in result.output and said in (tmp_path / "o" / "report.md").read_text().replace("\\_", "_")
    assert said in pd.read_csv(tmp_path / "o" / "results.csv")["count_check"].iloc[0]


def test_compare_says_a_long_time_in_plain_milliseconds():
    from convbench.present.verdicts import verdict_lines

    rows = [{"shape": "s", "backend": "eager", "device": "cpu", "label": label, "variant": label, "status": "ok",
             "latency_ms": ms, "macs": macs, "params": 1, "verdict": None} for label, ms, macs in
            (("conv", 2345.6, 100), ("separable", 1152.3, 10))]
    text = "\n".join(verdict_lines(rows, "conv"))
    assert "separable at 1,150 ms" in text and "e+" not in text
