"""Console tables fit the width they are given, without cutting a number or a label."""

from __future__ import annotations

import io
import re

import pytest

from click.testing import CliRunner
from rich.console import Console

from convbench.cli import main
from convbench.present.console import console_tables
from convbench.store.merge import merge_runs
from convbench.present.formatting import ratio, si
from convbench.timing import session as timing_session
from tests.probes import QuietProbe
from tests.test_instability_policy import SteadyProbe
from tests.test_paper import ALL

LONG_LABELS = """\
name: long
timing: {min_span: 0, min_time: 0.01, rounds: 5, threads: 1, warmup_time: 0.0}
shapes: [{in_channels: 8, out_channels: 8, size: 8}]
variants:
  - conv
  - {name: xsep, pointwise: false, padding: tl}
  - {name: xsep, pointwise: false, padding: br}
  - {name: octave, alpha_in: 0.25, alpha_out: 0.25}
  - {name: group, groups: 8}
"""


def _whole(text: str, width: int) -> None:
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width, text


def test_a_real_runs_tables_fit_80_columns_with_every_number_whole():
    merged = merge_runs([ALL])
    buffer = io.StringIO()
    console_tables(merged.df, "conv", Console(file=buffer, width=80), merged.metadata)
    text = buffer.getvalue()
    _whole(text, 80)
    for row in merged.df.to_dict("records"):
        assert ratio(row["latency_vs_baseline"]) in text
        assert f"{row['label']}" in text  # in the table, or in the legend of short labels


def test_run_at_columns_80_shortens_labels_with_a_legend(tmp_path, monkeypatch):
    # A quiet, steady machine, so that no CONTENDED or UNSTABLE note widens the note column and
    # pushes the MACs column out (a legitimate choice of the fitter, not what this test is about).
    monkeypatch.setattr(timing_session, "Probe", QuietProbe)
    monkeypatch.setattr(timing_session, "StateProbe", SteadyProbe)
    config = tmp_path / "long.yaml"
    config.write_text(LONG_LABELS)
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "o")], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    _whole(result.output, 80)
    assert "xsep#1 = xsep(pointwise=False, padding=tl)" in result.output
    assert "xsep#2 = xsep(pointwise=False, padding=br)" in result.output
    assert si(8 * 8 * 9 * 64) in result.output  # conv's MACs, whole


def test_compare_at_columns_80(tmp_path):
    result = CliRunner().invoke(main, ["compare", "xsep:pointwise=false,padding=tl", "octave:alpha_in=0.25,alpha_out=0.25",
                                       "--shape", "in=8,out=8,k=3,size=8", "--quick"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    table = result.output.split("\n8->8")[0] + result.output.split("interleaved rounds")[0]
    assert "…" not in table
    assert max(len(line) for line in result.output.split("8->8, k=3, s=1, 1x8x8x8:")[0].splitlines()) <= 80


def test_piped_output_follows_columns(tmp_path):
    config = tmp_path / "long.yaml"
    config.write_text(LONG_LABELS)
    wide = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--out", str(tmp_path / "w")],
                              env={"COLUMNS": "130"})
    assert wide.exit_code == 0
    widths = [len(line) for line in wide.output.splitlines()]
    assert 80 < max(widths) <= 130
    assert "xsep(pointwise=False, padding=tl)" in wide.output and "xsep#1" not in wide.output


@pytest.mark.parametrize("width", [80, 100, 170])
def test_show_never_cuts_a_number(width):
    result = CliRunner().invoke(main, ["show", "--model", "oct_resnet50"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    assert rows and all(len(line) <= width for line in result.output.splitlines())
    for line in rows:
        for cell in line.split("│")[3:-1]:
            assert re.fullmatch(r"\d{1,3}(,\d{3})*|\d+(\.\d+)?[KMG]|", cell.strip()), (cell, line)
    total = next(line for line in rows if "total" in line)
    assert ("25,557,032" in total) == ("shortened" not in result.output)
    assert ("25,557,032" in total) or "25.6M" in total
