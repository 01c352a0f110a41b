"""Exports copy text from results files and configs as text: property tests over arbitrary strings
that a LaTeX table compiles (pdflatex, shell escape off) and shows each label as written, that
Markdown renders each label as text (markdown-it, the CommonMark parser rich uses), that no CSV cell
can start a spreadsheet formula, and that a plot label with `$` draws."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from convbench.present.escaping import csv_cell, markdown_text
from convbench.present.latex import latex_tables
from convbench.present.paper import markdown_tables
from convbench.present.report import export, markdown_report
from convbench.store.schema import frame

LABELS = st.text(min_size=1, max_size=40)


def rows_for(labels: list[str], status: str = "ok", **fields) -> list[dict]:
    return [dict(case_id=f"id{i}", machine="m", config="c", shape="64->64, k=3, 1x64x56x56", variant="v", label=label,
                 status=status if i == 0 else "ok", device="cpu", dtype="float32", backend="eager", batch=1, params=10,
                 macs=20, latency_ms=0.5, latency_iqr_ms=0.1, latency_vs_baseline=0.9, verdict="same",
                 latency_ratio_low=0.8, latency_ratio_high=1.1, **fields)
            for i, label in enumerate(labels)]


def printed(text: str) -> str:
    """What a label looks like in the PDF: printable ASCII as itself, other characters by code point."""
    return "".join(ch if " " <= ch <= "~" else " " if ch in "\t\n\r" else f"[U+{ord(ch):04X}]" for ch in text)


def comparable(text: str) -> str:
    # pdftotext drops the ff / fi / fl / ffi / ffl ligatures of the EC fonts or gives them as the
    # fonts' slots for them (0x1B-0x1F), and spacing is layout
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"ff[il]|f[fil]|[\x1b-\x1f]", "", re.sub(r"\s+", "", text))


def compile_latex(tmp_path, tex: str) -> str:
    document = ("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n"
                "\\pdfpagewidth=550cm \\paperwidth=550cm\n"  # a wide page: no cell runs off it
                "\\begin{document}\n" + tex + "\n\\end{document}\n")
    (tmp_path / "t.tex").write_text(document)
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "t.tex"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    return subprocess.run(["pdftotext", "-raw", "t.pdf", "-"], cwd=tmp_path, capture_output=True, text=True).stdout


needs_tex = pytest.mark.skipif(not (shutil.which("pdflatex") and shutil.which("pdftotext")),
                               reason="pdflatex and pdftotext are not installed (.ci/run installs them)")


@needs_tex
def test_a_status_cell_and_the_metadata_are_not_markup(tmp_path):
    hostile = r"$^{\input /etc/hostname}$ $^{\immediate\write18{touch PWNED}}$"
    metadata = {"baseline": hostile, "host": hostile, "device_name": hostile + "\n\n}", "torch": "%",
                "timing": {"rounds": 5}}
    tex = latex_tables(frame(rows_for(["conv", "x"], status=hostile)), metadata)
    assert r"\input" not in tex.replace(r"\textbackslash{}input", "")
    text = compile_latex(tmp_path, tex)
    assert comparable(hostile) in comparable(text) and not (tmp_path / "PWNED").exists()


@needs_tex
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.lists(LABELS, min_size=1, max_size=12, unique=True), status=LABELS)
@example(labels=["0"], status="0ff1")  # pdftotext gives the ff ligature as the font's slot 0x1B
def test_a_latex_table_of_any_labels_compiles_and_shows_them(tmp_path, labels, status):
    text = comparable(compile_latex(tmp_path, latex_tables(frame(rows_for(labels, status)), {"baseline": "conv"})))
    for label in [*labels, status]:
        assert comparable(printed(label)) in text, (label, text)


INERT = {"text", "softbreak", "html_entity"}  # what a cell's inline content may hold


def rendered_cells(markdown: str) -> list[str]:
    """The text of every table cell, and a check that each holds nothing but text."""
    cells = []
    for token in MarkdownIt("commonmark").enable("table").parse(markdown):
        if token.type == "inline" and token.children is not None:
            kinds = {child.type for child in token.children}
            assert kinds <= INERT, (kinds, token.content)
            cells.append("".join(child.content for child in token.children))
    return cells


def as_text(label: str) -> str:
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in label).strip()


@settings(max_examples=60, deadline=None)
@given(labels=st.lists(LABELS, min_size=1, max_size=8, unique=True))
def test_markdown_renders_any_label_as_text(labels):
    cells = rendered_cells(markdown_tables(frame(rows_for(labels)), {"baseline": "conv"}))
    for label in labels:
        if as_text(label):
            assert as_text(label) in cells, (label, cells)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60))
def test_markdown_text_is_one_paragraph_of_the_same_text(text):
    tokens = MarkdownIt("commonmark").parse(markdown_text(text))
    if not as_text(text).strip():
        return
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"], (text, tokens)
    children = tokens[1].children
    assert {child.type for child in children} <= INERT
    assert "".join(child.content for child in children).strip() == as_text(text).strip()


def test_report_md_copies_hostile_metadata_as_text():
    hostile = {"config": "c\n# Injected", "host": "<img src=x onerror=alert(1)>",
               "description": "[x](javascript:alert(1))\n\n<script>alert(1)</script>", "baseline": "conv"}
    rows = rows_for(["<b>bold</b>", "[x](javascript:alert(1))"])
    report = markdown_report(frame(rows), {**hostile, "parts": [hostile]}, "convbench run `x`.yaml")
    tokens = MarkdownIt("commonmark").enable("table").parse(report)
    assert not [t for t in tokens if t.type in ("html_block", "html_inline")]
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert not any(h.startswith("Injected") for h in headings)
    children = [child for token in tokens for child in token.children or []]
    assert not [child for child in children if child.type in ("link_open", "image", "html_inline")]
    assert [child.content for child in children if child.type == "code_inline"] == ["convbench run `x`.yaml"]


@settings(max_examples=100, deadline=None)
@given(labels=st.lists(LABELS, min_size=1, max_size=6, unique=True), config=LABELS)
def test_no_csv_cell_starts_a_formula(labels, config):
    rows = [{**row, "config": config} for row in rows_for(labels)]
    text = export(frame(rows), {"baseline": "conv"}, "csv")
    for record in list(csv.reader(io.StringIO(text, newline="")))[1:]:
        for cell in record:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    labels_back = [r["Variant"] for r in csv.DictReader(io.StringIO(text, newline=""))]
    assert labels_back == [csv_cell(label) for label in labels]


def test_a_config_name_formula_is_inert_and_numbers_stay_numbers():
    rows = [{**row, "config": '=HYPERLINK("http://evil.example","x")', "latency_vs_eager": -0.5}
            for row in rows_for(["conv"])]
    record = list(csv.DictReader(io.StringIO(export(frame(rows), {}, "csv"))))[0]
    assert record["Config"] == "'=HYPERLINK(\"http://evil.example\",\"x\")" and record["Latency / eager"] == "-0.5"


def test_a_plot_label_with_math_text_draws(tmp_path):
    pytest.importorskip("matplotlib")
    from convbench.present.plot import plot_files

    rows = rows_for([r"$\frac{1", "$x$", "conv"], bytes_moved=100, arithmetic_intensity=0.2)
    paths = plot_files(frame(rows), {"baseline": "conv"}, tmp_path / "a.svg", tmp_path / "b.svg")
    assert r"$\frac{1" in paths[0].read_text()


def test_console_markup_in_a_config_is_printed_as_text(tmp_path):
    from click.testing import CliRunner

    from convbench.cli import main

    config = tmp_path / "m.yaml"
    config.write_text('name: "[/] [bold]x"\ndescription: "[red]y[/"\nshapes: [{in_channels: 4, size: 6}]\n'
                      "variants: [conv, depthwise]\n")
    result = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--out", str(tmp_path / "o")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.output, result.exception)
    assert "[/] [bold]x" in (tmp_path / "o" / "report.md").read_text().replace("\\", "")


def test_a_runs_own_csv_keeps_formulas_inert_and_reads_back_the_text(tmp_path):
    from click.testing import CliRunner

    from convbench.cli import main
    from convbench.store.reading import load_results

    name = '=HYPERLINK("http://evil.example","x")'
    config = tmp_path / "m.yaml"
    config.write_text(f"name: '{name}'\nshapes: [{{in_channels: 4, size: 6}}]\nvariants: [conv, depthwise]\n")
    out = tmp_path / "o"
    assert CliRunner().invoke(main, ["run", str(config), "--no-timing", "--out", str(out)]).exit_code == 0
    records = list(csv.DictReader(io.StringIO((out / "results.csv").read_text(), newline="")))
    assert {record["config"] for record in records} == {"'" + name}
    assert set(load_results(out / "results.csv")[0]["config"]) == {name}
    resumed = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--resume", str(out)])
    assert resumed.exit_code == 0, resumed.output
