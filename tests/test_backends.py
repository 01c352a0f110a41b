"""Runtimes: each one's output equals eager's for every variant it takes, a missing runtime is one
line naming its extra, and the runtime shows in every row and in the run's metadata."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import convbench
from convbench import backends
from convbench.cli import main
from convbench.plan.config import ConfigError
from convbench.plan.loading import parse_config
from convbench.present.formatting import significant
from convbench.timing import check_runs
from tests.cli_checks import assert_one_line_exit_2
from convbench.timing.stats import paired_ratio
from tests.run_files import run_document

BLOCKS = {"stft_block1", "stft_block2", "xsep_block"}
LAYERS = [name for name in convbench.variant_names() if name not in BLOCKS]
RUNTIMES = [name for name, package in (("onnxruntime", "onnxruntime"), ("openvino", "openvino"),
                                         ("executorch", "executorch"))
            if importlib.util.find_spec(package)]


def _case(name: str, stride: int = 1):
    module = convbench.build(name, 16, 16, 3, stride)
    inputs = convbench.example_inputs(name, 2, 16, 8, 8, stride=stride)
    return module, inputs


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("name", LAYERS)
def test_every_single_layer_variant_runs_on_the_runtimes_as_in_eager(name, runtime):
    for stride in (1, 2):
        module, inputs = _case(name, stride)
        reference = check_runs(module, inputs, threads=1)
        output = check_runs(module, inputs, threads=1, backend=runtime)
        largest, relative = backends.difference(reference, output)
        assert relative <= backends.TOLERANCE["float32"], (name, runtime, stride, largest, relative)


@pytest.mark.parametrize("name", ["conv", "separable"])
def test_torch_compile_runs_as_in_eager(name):
    try:
        backends.require("compile")
    except backends.BackendUnavailable as error:
        pytest.skip(str(error))
    module, inputs = _case(name)
    reference = check_runs(module, inputs, threads=1)
    assert backends.difference(reference, check_runs(module, inputs, threads=1, backend="compile"))[1] <= 1e-4


def test_difference_is_the_largest_gap_over_the_largest_output():
    reference = (torch.tensor([1.0, -4.0]), torch.tensor([2.0]))
    assert backends.difference(reference, [np.array([1.0, -4.5]), np.array([2.25])]) == (0.5, 0.125)
    with pytest.raises(ValueError, match="shapes differ"):
        backends.difference(torch.zeros(2), torch.zeros(3))


@pytest.mark.parametrize("runtime,package,extra", [("onnxruntime", "onnxruntime", "convbench[onnx]"),
                                                   ("openvino", "openvino", "convbench[openvino]")])
def test_a_missing_runtime_is_one_line_naming_its_extra(monkeypatch, runtime, package, extra):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))
    result = CliRunner().invoke(main, ["compare", "depthwise", "--backend", runtime, "--no-timing"])
    assert_one_line_exit_2(result, f"backend {runtime} needs the", extra)


def test_compile_without_a_compiler_says_so(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    result = CliRunner().invoke(main, ["compare", "depthwise", "--backend", "compile", "--no-timing"])
    assert_one_line_exit_2(result, "backend compile needs a C++ compiler")


def test_bad_backends_in_a_config_are_located_errors():
    with pytest.raises(ConfigError, match=r"c.yaml:1: backends\[1\]: unknown backend 'onnxrt'; did you mean 'onnxruntime'"):
        parse_config("backends: [eager, onnxrt]\nshapes: [{in_channels: 8, size: 8}]\nvariants: [conv]", "c.yaml")
    with pytest.raises(ConfigError, match="time inference only"):
        parse_config("backends: [onnxruntime]\ntiming: {training: true}\nshapes: [{in_channels: 8, size: 8}]\n"
                     "variants: [conv]", "c.yaml")


CONFIG = """\
name: runtimes
backends: [eager, {runtime}]
timing: {{min_span: 0, min_time: 0.05, rounds: 5, threads: 1, warmup_time: 0.0}}
shapes: [{{in_channels: 8, size: 8}}]
variants: [conv, depthwise]
"""


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_runtime_shows_in_every_row_and_the_metadata(tmp_path, runtime):
    config = tmp_path / "r.yaml"
    config.write_text(CONFIG.format(runtime=runtime))
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "o"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {(r["backend"], r["variant"]): r for r in data["rows"]}
    assert set(rows) == {(b, v) for b in ("eager", runtime) for v in ("conv", "depthwise")}
    assert data["metadata"]["backends"][runtime].startswith(runtime)
    recorded = data["metadata"]["backend_settings"][runtime]["1"]
    assert recorded == {"onnxruntime": {"graph_optimization_level": "ORT_ENABLE_ALL", "intra_op_num_threads": 1,
                                        "inter_op_num_threads": 1, "execution_mode": "ORT_SEQUENTIAL",
                                        "session.intra_op.allow_spinning": "1 (default)",
                                        "call": "run_with_iobinding, inputs bound once"},
                        "openvino": {"INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                                     "ENABLE_CPU_PINNING": True, "INFERENCE_PRECISION_HINT": "the dtype's (f32, f16)",
                                     "input shapes": "static (the case's)",
                                     "call": "infer() on inputs set once, shared"},
                        "executorch": {"threads": 1,
                                       "thread pool": "XNNPACK's process-wide pthreadpool, resized to the case's count",
                                       "partitioner": "XnnpackPartitioner",
                                       "call": "Method::execute on inputs set once, read in place (not planned)"}}[runtime]
    assert all(r["status"] == "ok" for r in rows.values())
    for variant in ("conv", "depthwise"):
        row, eager = rows[(runtime, variant)], rows[("eager", variant)]
        assert row["backend_max_rel_diff"] <= 1e-4 and row["case_id"] != eager["case_id"]
        raw = {(r["backend"], r["variant"]): r["raw"] for r in run_document(tmp_path / "o")["rows"]}
        mine, theirs = raw[(runtime, variant)], raw[("eager", variant)]
        expected = paired_ratio(mine["round_ms"], theirs["round_ms"], groups=mine["round_process"])
        assert (row["latency_vs_eager"], row["eager_ratio_low"], row["eager_ratio_high"]) == (
            pytest.approx(expected.ratio), pytest.approx(expected.low), pytest.approx(expected.high))
        assert row["macs"] == eager["macs"] and row["params"] == eager["params"]  # counts do not change
    assert rows[(runtime, "conv")]["latency_vs_baseline"] == 1.0
    eager_only = parse_config(CONFIG.format(runtime=runtime).replace(f", {runtime}]", "]"))
    from convbench.plan.sharding import case_id

    assert rows[("eager", "depthwise")]["case_id"] == case_id(eager_only, eager_only.shapes[0], "cpu",
                                                              eager_only.variants[1])


@pytest.mark.skipif("openvino" not in RUNTIMES, reason="needs the openvino extra")
def test_a_wrong_runtime_answer_is_an_error_row(tmp_path, monkeypatch):
    from convbench.backends import openvino_runtime

    real = openvino_runtime.prepare

    def off_by_one(*args):
        call = real(*args)
        return lambda: [value + 1 for value in call().values()]

    monkeypatch.setattr(openvino_runtime.OpenVinoRuntime, "prepare_float", staticmethod(off_by_one))
    config = tmp_path / "r.yaml"
    config.write_text(CONFIG.format(runtime="openvino"))
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "o"), "--json"])
    rows = [r for r in json.loads(result.stdout)["rows"] if r["backend"] == "openvino"]
    assert rows and all(r["status"] == "error" and "openvino output differs from eager" in r["error"] for r in rows)


@pytest.mark.skipif("onnxruntime" not in RUNTIMES, reason="needs the onnx extra")
def test_what_a_runtime_cannot_take_is_a_skipped_row_naming_it(tmp_path):
    config = tmp_path / "r.yaml"
    config.write_text(CONFIG.format(runtime="onnxruntime") + "dtype: bfloat16\n")
    result = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--out", str(tmp_path / "o"), "--json"])
    assert result.exit_code == 0, result.output
    # --no-timing does not prepare runtimes; timing does
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "t"), "--json"])
    rows = [r for r in json.loads(result.stdout)["rows"] if r["backend"] == "onnxruntime"]
    assert rows and all(r["status"] == "skipped" and r["error"].startswith("onnxruntime cannot take it: bfloat16")
                        for r in rows)


@pytest.mark.skipif("onnxruntime" not in RUNTIMES, reason="needs the onnx extra")
def test_exports_and_plots_split_by_runtime(tmp_path):
    pytest.importorskip("matplotlib")
    config = tmp_path / "r.yaml"
    config.write_text(CONFIG.format(runtime="onnxruntime"))
    out = tmp_path / "o"
    assert CliRunner().invoke(main, ["run", str(config), "--out", str(out)]).exit_code == 0
    markdown = CliRunner().invoke(main, ["export", str(out), "--format", "markdown"]).output
    assert "| Variant | eager | onnxruntime |" in markdown and "(cpu, float32, onnxruntime)" in markdown
    latex = CliRunner().invoke(main, ["export", str(out), "--format", "latex"]).output
    assert latex.count(r"\begin{table}") == 3  # a table per runtime, and the runtimes side by side
    assert "Variant & eager & onnxruntime" in latex
    assert CliRunner().invoke(main, ["plot", str(out), "-o", str(tmp_path / "p.svg")]).exit_code == 0
    assert "1x8x8x8 on onnxruntime" in (tmp_path / "p.svg").read_text()


def test_the_runtime_table_of_a_real_run_fits_80_columns():
    import io
    from pathlib import Path

    from rich.console import Console

    from convbench.present.console import backend_table
    from convbench.store.merge import merge_runs

    run = max((Path(__file__).resolve().parent.parent / "results").glob("backends-*"))
    df = merge_runs([run]).df
    for width in (80, 160):
        buffer = io.StringIO()
        backend_table(df, "conv", Console(file=buffer, width=width))
        text = buffer.getvalue()
        assert "…" not in text and max(map(len, text.splitlines())) <= width
        for row in df[df["status"] == "ok"].to_dict("records"):
            assert f"{significant(row['latency_vs_baseline'])}x" in text
    assert "(1.00x)" in text  # wide enough for the latencies too


def test_waiting_for_openvinos_telemetry_children_lets_the_blocks_error_through():
    from convbench.backends.openvino_runtime import _children_finished

    with pytest.raises(RuntimeError, match="conversion failed"):
        with _children_finished(seconds=1.0):
            raise RuntimeError("conversion failed")
