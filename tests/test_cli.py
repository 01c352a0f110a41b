"""Every command through Click's CliRunner, including each kind of bad input."""

from __future__ import annotations

import io
import json
import math
import shutil
import subprocess

import pandas as pd
import pytest
from click.testing import CliRunner

import convbench
from convbench.cli import main
from convbench.timing.stats import paired_ratio
from tests.cli_checks import assert_one_line_exit_2
from tests.run_files import run_document

WIDE = {"COLUMNS": "300"}
TINY = """\
name: tiny
timing: {min_span: 0, min_time: 0.01, rounds: 5, threads: 1, warmup_time: 0.0}
shapes:
  - {in_channels: 8, out_channels: 8, size: 8}
  - {in_channels: 8, out_channels: 12, size: 7}
variants:
  - conv
  - depthwise
  - {name: octave, alpha_in: 0.5, alpha_out: 0.5}
  - {name: ac, deploy: true}
"""


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, list(args), env=WIDE, **kwargs)


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One real (short) run, shared by the export tests."""
    directory = tmp_path_factory.mktemp("run")
    config = directory / "tiny.yaml"
    config.write_text(TINY)
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(directory / "out")], env=WIDE)
    assert result.exit_code == 0, result.output
    return directory / "out"


def test_run_writes_every_file_and_prints_a_table_per_shape(finished_run):
    df = pd.read_csv(finished_run / "results.csv")
    assert len(df) == 8
    for column in ("variant", "label", "params", "macs", "kmac_per_pixel", "macs_ptflops", "count_check",
                   "latency_ms", "latency_iqr_ms", "runs", "macs_vs_baseline", "latency_vs_baseline",
                   "significant", "error"):
        assert column in df.columns
    document = run_document(finished_run)
    assert document["metadata"]["torch"] and document["metadata"]["baseline"] == "conv"
    assert document["metadata"]["interrupted"] is False
    timed = [row for row in document["rows"] if row["status"] == "ok"]
    assert all(row["raw"]["timing_ms"] and len(row["raw"]["round_ms"]) == row["rounds"] == 5 for row in timed)
    assert any("round_ratios" in row["raw"] for row in timed)
    report = (finished_run / "report.md").read_text()
    assert "8->8, k=3, s=1, 1x8x8x8" in report and "Command: `convbench run" in report


def test_run_skips_cases_a_variant_cannot_take(finished_run):
    df = pd.read_csv(finished_run / "results.csv")
    skipped = df[df["status"] == "skipped"].set_index("variant")
    assert set(skipped.index) == {"depthwise", "octave"}  # 8 -> 12 channels; 7 x 7 input
    assert "out_channels=12" in skipped.loc["depthwise", "error"]
    assert "height=7" in skipped.loc["octave", "error"]
    ok = df[df["status"] == "ok"]
    assert (ok["formula_check"] == "ok").all()
    conv = ok[ok["variant"] == "conv"].iloc[0]
    assert conv["macs"] == 8 * 8 * 9 * 64 and conv["latency_vs_baseline"] == 1.0


def test_run_output_shows_ratios_and_reasons(tiny_config, tmp_path):
    result = invoke("run", str(tiny_config), "--out", str(tmp_path / "o"), "--only", "conv,depthwise")
    assert result.exit_code == 0, result.output
    assert "x: variant / conv" in result.output
    assert "skipped" in result.output and "out_channels=12" in result.output
    assert "rows written to" in result.output
    assert len(pd.read_csv(tmp_path / "o" / "results.csv")) == 4


def test_run_no_timing_counts_only(tiny_config, tmp_path):
    result = invoke("run", str(tiny_config), "--no-timing", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    assert df["latency_ms"].isna().all() and df["macs"].notna().any()


def test_run_json_output(tiny_config, tmp_path):
    result = invoke("run", str(tiny_config), "--no-timing", "--json", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert len(data["rows"]) == 8 and data["metadata"]["config"] == "tiny"


def test_run_default_directory_is_named_after_the_config(tiny_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", str(tiny_config), "--no-timing")
    assert result.exit_code == 0, result.output
    (directory,) = (tmp_path / "results").iterdir()
    assert directory.name.startswith("tiny-") and (directory / "results.csv").exists()


def test_an_interrupted_run_keeps_its_finished_rows(tiny_config, tmp_path, monkeypatch):
    import convbench.suite.recording as recording

    real = recording.run_suite

    def interrupted(*args, **kwargs):
        for i, item in enumerate(real(*args, **kwargs)):
            if i == 3:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(recording, "run_suite", interrupted)
    result = invoke("run", str(tiny_config), "--no-timing", "--out", str(tmp_path / "o"))
    assert result.exit_code == 130
    assert "interrupted: 3 rows" in result.output
    assert len(pd.read_csv(tmp_path / "o" / "results.csv")) == 3
    document = run_document(tmp_path / "o")
    assert len(document["rows"]) == 3 and document["metadata"]["interrupted"] is True
    assert "interrupted" in (tmp_path / "o" / "report.md").read_text()


def test_a_case_that_fails_at_run_time_becomes_an_error_row(tiny_config, tmp_path, monkeypatch):
    import convbench.suite.cases as cases

    real = convbench.count

    def failing(module, *inputs, **kwargs):
        if type(module).__name__ == "AsymmetricConvBlock" or getattr(module, "bias", None) is not None:
            raise RuntimeError("simulated out of memory")
        return real(module, *inputs, **kwargs)

    monkeypatch.setattr(cases, "count", failing)
    result = invoke("run", str(tiny_config), "--no-timing", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    errors = df[df["status"] == "error"]
    assert len(errors) == 2 and (errors["variant"] == "ac").all()
    assert errors["error"].str.contains("simulated out of memory").all()
    assert (df[df["variant"] == "conv"]["status"] == "ok").all()


@pytest.mark.parametrize("text,message", [
    ("name: x\nshapes: [{in_channels: 8, size: 8}\nvariants: [conv]\n", "bad.yaml:3: YAML syntax error"),
    ("name: x\nshape: []\n", "bad.yaml:2: shape: unknown key 'shape'; did you mean 'shapes'?"),
    ("name: x\nshapes: [{in_channels: 8, size: 8}]\nvariants: [octav]\n", "bad.yaml:3: variants[0]: unknown variant 'octav'; did you mean 'octave'?"),
    ("name: x\nshapes: [{in_channels: eight, size: 8}]\nvariants: [conv]\n", "bad.yaml:2: shapes[0].in_channels: must be an integer"),
    ("name: x\nshapes: [{in_channels: 0, size: 8}]\nvariants: [conv]\n", "bad.yaml:2: shapes[0].in_channels: must be >= 1"),
])
def test_bad_config_is_one_line_exit_2_no_traceback(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert_one_line_exit_2(invoke("run", str(path)), message)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the error without a GPU")
def test_cuda_without_a_gpu_is_exit_2(tiny_config):
    result = invoke("run", str(tiny_config), "--device", "cuda")
    assert result.exit_code == 2 and "sees no CUDA GPU" in result.output and "--device cpu" in result.output


def test_unknown_only_variant_is_exit_2(tiny_config):
    result = invoke("run", str(tiny_config), "--only", "sepparable")
    assert result.exit_code == 2 and "did you mean 'separable'" in result.output


def test_compare_prints_a_verdict():
    result = invoke("compare", "depthwise", "separable", "--shape", "in=16,out=16,k=3,size=16", "--quick")
    assert result.exit_code == 0, result.output
    assert "cheapest on paper: depthwise" in result.output
    assert "fastest here (cpu):" in result.output
    assert "separable: 0.174x the MACs" in result.output  # 1/16 + 1/9
    assert ("faster than conv" in result.output or "slower than conv" in result.output
            or "as fast as conv" in result.output or "undecided" in result.output)
    assert "95% CI" in result.output and "timed rows contended" in result.output


def test_every_latency_over_the_baseline_latency_is_its_ratio(finished_run):
    document = run_document(finished_run)
    for shape in {row["shape"] for row in document["rows"]}:
        rows = [r for r in document["rows"] if r["shape"] == shape and r["status"] == "ok"]
        (base,) = [r for r in rows if r["variant"] == "conv"]
        for row in rows:
            assert row["latency_ms"] / base["latency_ms"] == pytest.approx(row["latency_vs_baseline"], rel=1e-9)
            if row is not base:
                ratios = row["raw"]["round_ratios"]
                geometric = math.exp(sum(map(math.log, ratios)) / len(ratios))
                assert row["latency_vs_baseline"] == pytest.approx(geometric, rel=1e-9)
                processes = row["raw"].get("round_process")
                expected = paired_ratio(ratios, [1.0] * len(ratios), groups=processes,
                                        confidence=row["confidence"], margin=row["margin"])
                assert row["latency_ratio_low"] == pytest.approx(expected.low, rel=1e-9)
                assert row["latency_ratio_high"] == pytest.approx(expected.high, rel=1e-9)
                assert row["verdict"] == expected.verdict


def test_compare_no_timing_json_and_skips():
    result = invoke("compare", "stft", "octave", "--shape", "in=8,out=8,k=3,size=7", "--no-timing", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    statuses = {row["variant"]: row["status"] for row in data["rows"]}
    assert statuses == {"conv": "ok", "stft": "ok", "octave": "skipped"}
    assert any("octave: skipped" in line for line in data["verdicts"])


def test_compare_variants_with_parameters():
    result = invoke("compare", "octave:alpha_in=0.25,alpha_out=0.25", "group:groups=2",
                    "--shape", "in=16,size=16", "--no-timing", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["label"]: row for row in json.loads(result.stdout)["rows"]}
    assert rows["octave(alpha_in=0.25, alpha_out=0.25)"]["macs_vs_baseline"] == pytest.approx(1 - 0.75 * 0.25 * 1.75)
    assert rows["group(groups=2)"]["macs_vs_baseline"] == 0.5
    bad = invoke("compare", "group:grops=2")
    assert bad.exit_code == 2 and "did you mean 'groups'" in bad.output


def test_compare_with_a_config_takes_its_shapes(tiny_config):
    result = invoke("compare", "separable", "--config", str(tiny_config), "--no-timing", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["rows"]) == 4  # 2 shapes x (conv, separable)


@pytest.mark.parametrize("args,message", [
    (["compare", "octav"], "did you mean 'octave'"),
    (["compare", "stft", "--shape", "in=64,out=sixty"], "--shape 'in=64,out=sixty': expected key=positive integer"),
    (["compare", "stft", "--shape", "in=64,colour=3,size=8"], "unknown key 'colour'"),
    (["show", "stft", "--shape", "in=8,size=8", "--param", "activation=tanh"], "activation"),
    (["show", "group", "--shape", "in=6,size=8", "--param", "groups=4"], "valid groups: 1, 2, 3, 6"),
    (["export", "missing-dir"], "does not exist"),
])
def test_bad_command_line_input_is_exit_2(args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_list_shows_every_variant_with_its_defaults_and_paper():
    result = invoke("list")
    assert result.exit_code == 0, result.output
    for name in convbench.variant_names():
        assert name in result.output
    assert "alias: dsc" in result.output
    assert "alpha_in=0.5" in result.output and "activation='abs' (choice)" in result.output
    assert "Drop an Octave" in result.output


def test_list_json():
    data = json.loads(invoke("list", "--json").stdout)
    assert [v["name"] for v in data] == convbench.variant_names()


def test_show_breaks_a_variant_down_by_layer():
    result = invoke("show", "stft", "--shape", "in=8,out=16,k=3,size=10")
    assert result.exit_code == 0, result.output
    assert "pointwise" in result.output and "(root)" in result.output
    macs = 100 * (8 * 8 * 9 + 8 * 8 * 16)
    assert f"{macs:,}" in result.output
    assert "ptflops: functional conv not counted" in result.output
    data = json.loads(invoke("show", "ac", "--shape", "in=8,size=8", "--json").stdout)
    assert data["cost"]["macs"] == data["formula"]["macs"] == 15 * 8 * 8 * 64


def test_export_formats(finished_run, tmp_path):
    csv_text = invoke("export", str(finished_run), "--format", "csv").stdout
    table = pd.read_csv(io.StringIO(csv_text))
    assert {"Machine", "Case", "Variant", "Params", "MACs", "kMAC/px", "Latency (ms)", "Latency / baseline"} \
        <= set(table.columns)
    assert len(table) == 8

    markdown = invoke("export", str(finished_run / "results.jsonl"), "--format", "markdown").stdout
    assert markdown.startswith("## ") and "| Variant" in markdown and "| conv" in markdown

    latex = invoke("export", str(finished_run / "results.csv"), "--format", "latex").stdout
    assert "\\begin{tabular}" in latex and "\\end{table}" in latex and "Params" in latex
    assert "%" not in latex.replace("\\%", "")  # every percent sign escaped (caption included)
    assert "->" not in latex and "$\\to$" in latex
    if shutil.which("pdflatex"):
        document = tmp_path / "table.tex"
        document.write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n"
                            + latex + "\\end{document}\n")
        compiled = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", document.name],
                                  cwd=tmp_path, capture_output=True, text=True)
        assert compiled.returncode == 0, compiled.stdout[-2000:]

    out = tmp_path / "t.json"
    result = invoke("export", str(finished_run), "--format", "json", "-o", str(out))
    assert result.exit_code == 0
    data = json.loads(out.read_text())
    assert len(data["rows"]) == 8 and data["metadata"]["config"] == "tiny"


def test_export_of_a_file_that_is_not_results(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("hello")
    result = invoke("export", str(path))
    assert result.exit_code == 2 and "expected a run directory" in result.output


def test_env():
    result = invoke("env", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    for key in ("torch", "cuda", "cudnn", "cpu_model", "threads", "convbench_version", "ptflops", "torchsummary"):
        assert key in data
    assert "torch" in invoke("env").output


def test_python_dash_m_works():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "convbench", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and convbench.__version__ in out.stdout


def test_run_a_network_config(tmp_path):
    path = tmp_path / "n.yaml"
    path.write_text("name: n\nmodels: [{name: resnet18, size: 64}]\n"
                    "variants: [conv, separable, depthwise, {name: group, groups: 4}]\n")
    result = invoke("run", str(path), "--no-timing", "--json", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    rows = {row["label"]: row for row in json.loads(result.stdout)["rows"]}
    assert rows["conv"]["params"] == 11689512 and rows["conv"]["macs_vs_baseline"] == 1.0
    assert rows["separable"]["status"] == "ok" and rows["separable"]["macs_vs_baseline"] < 0.2
    assert rows["group(groups=4)"]["status"] == "ok"  # every conv but the 3-channel stem
    assert rows["depthwise"]["status"] == "ok"        # every conv but the 3-channel stem


def test_compare_spreads_rounds_over_fresh_processes():
    result = invoke("compare", "depthwise", "--shape", "in=8,out=8,k=3,size=8", "--quick", "--processes", "2",
                    "--json")
    assert result.exit_code == 0, result.output
    rows = {row["variant"]: row for row in json.loads(result.stdout)["rows"]}
    assert rows["depthwise"]["processes"] == 2 and rows["depthwise"]["rounds"] == 5  # 3 in one process, 2 in the other
    assert "in 2 processes" in " ".join(json.loads(result.stdout)["verdicts"])


def test_a_case_that_cannot_be_timed_is_an_error_row_and_the_rest_of_its_shape_is_timed(tiny_config, tmp_path,
                                                                                         monkeypatch):
    import convbench.suite.runner as runner

    real = runner.check_runs

    def failing(module, inputs, **options):
        if type(module).__name__ == "Conv2d" and module.groups > 1:
            raise RuntimeError("simulated: no kernel for this dtype")
        return real(module, inputs, **options)

    monkeypatch.setattr(runner, "check_runs", failing)
    result = invoke("run", str(tiny_config), "--out", str(tmp_path / "o"), "--only", "conv,depthwise,ac")
    assert result.exit_code == 0, result.output
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    first = df[df["shape"] == df["shape"].iloc[0]].set_index("label")
    assert first.loc["depthwise", "status"] == "error" and "no kernel" in first.loc["depthwise", "error"]
    assert first.loc["ac(deploy=True)", "status"] == "ok"
    assert first.loc["ac(deploy=True)", "latency_vs_baseline"] > 0


def test_counter_notes_are_one_line_per_reason_and_a_counter_that_cannot_run_is_no_note(tmp_path):
    config = tmp_path / "n.yaml"
    config.write_text("name: n\nshapes: [{in_channels: 8, size: 8}]\nvariants: [conv, stft, stft_reference]\n")
    result = invoke("run", str(config), "--no-timing", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.strip().startswith("[")]
    assert notes == ["  [1] ptflops: functional conv not counted (stft, stft_reference)"]
    assert "torchsummary" not in result.output
    assert "torchsummary: crashed" in pd.read_csv(tmp_path / "o" / "results.csv")["count_check"].iloc[0]
