"""LaTeX a reviewer accepts: every export of every committed run, at every layout, compiles with
pdflatex with no error and no overfull box in the document it is meant for (a one-column article
with 1 in margins; a two-column one for `twocolumn` and `narrow`), and the marks compile in every
combination a row can have."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import pytest

from convbench.present.latex import LAYOUTS
from convbench.present.report import export
from convbench.store.merge import merge_runs
from convbench.store.schema import frame

RESULTS = Path(__file__).resolve().parent.parent / "results"
RUNS = sorted(path.parent for path in RESULTS.glob("*/results.json*"))

pytestmark = pytest.mark.skipif(not shutil.which("pdflatex"), reason="pdflatex is not installed (.ci/run installs it)")


def compile_tables(tmp_path: Path, tables: str, twocolumn: bool) -> str:
    """The pdflatex log of an article holding ``tables``; fails on any error."""
    options = "twocolumn" if twocolumn else ""
    (tmp_path / "tables.tex").write_text(tables)
    (tmp_path / "paper.tex").write_text(
        f"\\documentclass[{options}]{{article}}\n\\usepackage[margin=1in]{{geometry}}\n\\usepackage{{booktabs}}\n"
        "\\begin{document}\n\\input{tables}\n\\end{document}\n")
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "paper.tex"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert result.returncode == 0, result.stdout[-3000:]
    return log


def overfull(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith(("Overfull \\hbox", "Overfull \\vbox"))]


def test_there_are_committed_runs_to_check():
    assert len(RUNS) >= 10


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("run", RUNS, ids=[run.name for run in RUNS])
def test_every_committed_run_fits_the_page(tmp_path, run, layout):
    merged = merge_runs([run])
    log = compile_tables(tmp_path, export(merged.df, merged.metadata, "latex", layout=layout), layout != "onecolumn")
    assert overfull(log) == [], overfull(log)


def test_marks_compile_in_every_combination(tmp_path):
    rows = []
    for i, (verdict, contended, unstable) in enumerate(itertools.product(
            ["same", "undecided", "faster", "slower", None], [True, False, None], [True, False, None])):
        rows.append(dict(case_id=f"c{i}", machine="m", config="c", shape="s", variant="v", label=f"v{i}", status="ok",
                         device="cpu", dtype="float32", backend="eager", batch=1, params=10, macs=20, latency_ms=0.5,
                         latency_iqr_ms=0.1, latency_vs_baseline=0.984, verdict=verdict, contended=contended,
                         unstable=unstable, latency_ratio_low=0.9, latency_ratio_high=1.1, macs_vs_baseline=1.0))
    for layout in LAYOUTS:
        tables = export(frame(rows), {"baseline": "conv"}, "latex", layout=layout)
        assert r"0.984$\times$$^{\sim ! \dagger}$" in tables
        (tmp_path / layout).mkdir()
        assert overfull(compile_tables(tmp_path / layout, tables, twocolumn=layout != "onecolumn")) == []


def test_runs_on_several_runtimes_get_a_runtimes_table(tmp_path):
    run = RESULTS / "backends-20261126"
    merged = merge_runs([run])
    latex = export(merged.df, merged.metadata, "latex")
    names = list(dict.fromkeys(merged.df["backend"]))
    assert len(names) >= 3 and latex.count("Variant & " + " & ".join(names).replace("_", r"\_")) >= 1
    assert overfull(compile_tables(tmp_path, latex, twocolumn=False)) == []


def test_a_fresh_contended_run_fits_the_page(tmp_path, monkeypatch):
    """A run of every variant on two shapes in which every reading saw other processes busy (a probe
    reporting 1.5 cores, as tests/test_contention_policy.py does), exported at every layout."""
    from click.testing import CliRunner

    from convbench.cli import main
    from convbench.timing import session as timing_session
    from tests.test_contention_policy import BusyProbe

    monkeypatch.setattr(timing_session, "Probe", BusyProbe)
    config = tmp_path / "busy.yaml"
    config.write_text("name: busy\ntiming: {min_span: 0, min_time: 0.01, rounds: 5, threads: 1, warmup_time: 0.0}\n"
                      "shapes: [{in_channels: 16, size: 8}, {in_channels: 8, out_channels: 16, kernel_size: 5, "
                      "size: 12}]\nvariants: [conv, group, dilated, depthwise, separable, octave, stft, ac, "
                      "{name: ac, deploy: true}, xsep, transposed]\n")
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    merged = merge_runs([tmp_path / "o"])
    assert merged.df["contended"].fillna(False).astype(bool).sum() >= 10
    for layout in LAYOUTS:
        latex = export(merged.df, merged.metadata, "latex", layout=layout)
        assert "!" in latex and r"$^{" in latex
        (tmp_path / layout).mkdir()
        assert overfull(compile_tables(tmp_path / layout, latex, layout != "onecolumn")) == []
