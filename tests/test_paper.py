"""Paper exports of a real run of configs/all.yaml: a booktabs table per shape, markers kept and
explained, no nan, significant figures; and the number formatting they rest on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, strategies as st

from convbench.cli import main
from convbench.store.merge import merge_runs
from convbench.present.formatting import ratio, si, significant
from convbench.present.report import export
from tests.cli_checks import assert_one_line_exit_2

RESULTS = Path(__file__).resolve().parent.parent / "results"
ALL = max(RESULTS.glob("all-*/results.json")).parent  # the newest committed run of configs/all.yaml


@pytest.fixture(scope="module")
def run():
    merged = merge_runs([ALL])
    return merged.df, merged.metadata


def test_latex_has_one_booktabs_table_per_shape(run):
    df, metadata = run
    latex = export(df, metadata, "latex")
    shapes = df["shape"].unique()
    assert latex.count(r"\begin{table}") == latex.count(r"\end{table}") == len(shapes) == 4
    assert latex.count(r"\toprule") == latex.count(r"\midrule") == latex.count(r"\bottomrule") == 4
    assert "nan" not in latex.lower() and "None" not in latex
    for text in ("`", "--calibrate", ">=", "+-", "->", "0.00x", "0.00$"):
        assert text not in latex, text
    assert not any("convbench" in caption for caption in re.findall(r"\\caption\{(.*)\}", latex))
    assert r"\label{tab:all-4}" in latex


def _column_count(spec: str) -> int:
    return len(re.findall(r"[lrc]|p\{[^}]*\}", spec.replace("@{}", "")))


def test_latex_rows_have_every_cell_and_balanced_math(run):
    latex = export(*run, "latex")
    for block in latex.split(r"\begin{tabular}{")[1:]:
        columns = _column_count(block.split("\n", 1)[0][:-1])
        body = block.split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0].strip().splitlines()
        assert body and columns == 7
        for line in body:
            assert len(re.findall(r"(?<!\\)&", line)) == columns - 1 and line.endswith(r"\\"), line
            assert len(re.findall(r"(?<!\\)\$", line)) % 2 == 0, line
            assert "^{" not in line.replace("$^{", "") and line.count("$^{") <= 1, line  # one superscript a cell
            assert not re.search(r"&\s*--\s*&", line)  # an empty cell, never a dash
    for caption in re.findall(r"\\caption\{(.*)\}", latex):
        assert len(re.findall(r"(?<!\\)\$", caption)) % 2 == 0


def _notes(latex: str) -> list[str]:
    return re.findall(r"\{\\footnotesize\\raggedright (.*)\\par\}", latex)


def test_latex_keeps_and_explains_the_verdict_marks(run):
    df, metadata = run
    latex = export(df, metadata, "latex")
    lines = [line.replace(r"\allowbreak{}", "").replace("\\raggedright\\hyphenpenalty=10000 ", "")
             for line in latex.splitlines()]  # a long label's break points
    marks = {"same": r"^{\sim}", "undecided": r"^{?}"}
    for row in df.to_dict("records"):
        if row["verdict"] in marks:
            line = next(text for text in lines if _latex_label(row["label"]) + " &" in text
                        and f"{significant(row['macs_vs_baseline'])}$\\times$" in text)
            assert marks[row["verdict"]] in line, line
    assert latex.count(r"$^{\sim}$: the same speed as conv") == 4 and latex.count(r"$^{?}$: undecided") == 4
    for caption in re.findall(r"\\caption\{(.*)\}", latex):
        assert "AMD EPYC" in caption and "2 threads" in caption and "variant / conv" in caption
    assert len(_notes(latex)) == 4
    for note in _notes(latex):
        for words in ("multiply-accumulates", "ptflops", "interleaved rounds", "Student-t", "95"):
            assert words in note, words


def _latex_label(label: str) -> str:
    return label.replace("_", r"\_")


def test_the_ci_heading_is_the_runs_confidence(run):
    df, metadata = run
    assert "95\\% CI" in export(df, metadata, "latex")
    at_90 = df.assign(confidence=0.9)
    assert "90\\% CI" in export(at_90, metadata, "latex") and "90% CI" in export(at_90, metadata, "markdown")


def test_markdown_has_a_table_machine_line_and_legend_per_shape(run):
    markdown = export(*run, "markdown")
    assert markdown.count("\n| Variant |") + markdown.startswith("| Variant |") == 4
    assert markdown.count("Machine: AMD EPYC, 2 threads") == 4
    assert markdown.count("\\~: the same speed as conv") == 4 and "nan" not in markdown.lower()
    assert "0.0156x" in markdown and "0.00x" not in markdown


def test_digits_and_shape_pick_what_is_shown(run):
    df, metadata = run
    assert "0.016$\\times$" in export(df, metadata, "latex", digits=2)
    one = export(df, metadata, "latex", shape="64->64, k=3")
    assert one.count(r"\begin{table}") == 1
    result = CliRunner().invoke(main, ["export", str(ALL), "--format", "latex", "--shape", "nothing like it"])
    assert_one_line_exit_2(result, "--shape 'nothing like it' matches none of the shapes")


@pytest.mark.parametrize("value,digits,text", [
    (9 / 36864, 3, "0.000244"), (0.98, 3, "0.980"), (1.5234, 3, "1.52"), (28901, 3, "28,900"),
    (9.996, 3, "10.0"), (0.0156, 2, "0.016"), (1.2e-5, 3, "1.20e-05"), (0, 3, "0"), (562.4, 3, "562"),
])
def test_significant_figures(value, digits, text):
    assert significant(value, digits) == text


@given(st.floats(min_value=1e-12, max_value=1e12), st.integers(1, 8))
def test_significant_is_within_half_a_unit_of_its_last_digit(value, digits):
    shown = float(significant(value, digits).replace(",", ""))
    assert abs(shown - value) <= 0.5 * 10 ** (1 - digits) * value * 1.000001


def test_counts_and_ratios():
    assert (si(7225344), si(36864), si(9), si(999), si(999_999)) == ("7.23M", "36.9K", "9", "999", "1.00M")
    assert ratio(9 / 36864) == "0.000244x" and ratio(None) == "" and significant(float("nan")) == ""
