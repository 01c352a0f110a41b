"""ExecuTorch (XNNPACK) and int8: every layer runs on ExecuTorch as in eager or is a skipped row
saying what XNNPACK could not take; int8 rows carry their quantization error against float32 and
their latency against float32 on the same runtime; a missing extra is one line naming it."""

from __future__ import annotations

import gc
import importlib.util
import math

import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st
from torch import nn

import convbench
from convbench import backends
from convbench.backends.calibration import calibration_set
from convbench.cli import main
from convbench.plan.config import ConfigError
from convbench.plan.loading import parse_config
from convbench.plan.expand import make_plan
from convbench.suite.runner import run_suite
from convbench.timing import check_runs
from convbench.timing.settings import PRECISIONS
from tests.cli_checks import assert_one_line_exit_2

HAS_EXECUTORCH = importlib.util.find_spec("executorch") is not None
needs_executorch = pytest.mark.skipif(not HAS_EXECUTORCH, reason="the executorch extra is not installed")
INT8_RUNTIMES = [name for name, packages in (("executorch", ("executorch",)), ("onnxruntime", ("onnxruntime",)),
                                             ("openvino", ("openvino", "nncf")))
                 if all(importlib.util.find_spec(p) for p in packages)]
# Uniform 8-bit quantization of a standard-normal input with its range at about 4 sigma leaves
# about 41 dB (6.02 x 8 + 4.77 - 20 log10 4); weights and output add their own noise.
CONV_INT8_SQNR_DB = 30.0


def test_sqnr_is_signal_over_noise_in_db():
    reference = torch.ones(100)
    assert backends.sqnr_db(reference, reference + 0.1) == pytest.approx(20.0)  # 100 / 1
    assert backends.sqnr_db((reference, 2 * reference), (reference, 2 * reference - 0.5)) == pytest.approx(
        10 * math.log10(500 / 25))
    assert backends.sqnr_db(reference, reference) == math.inf
    with pytest.raises(ValueError, match="shapes differ"):
        backends.sqnr_db(torch.zeros(2), torch.zeros(3))


def test_the_calibration_set_is_fixed_by_its_seed_and_keeps_integer_inputs():
    inputs = (torch.randn(1, 3, 4, 4), torch.arange(4))
    first, again, other = calibration_set(inputs), calibration_set(inputs), calibration_set(inputs, seed=1)
    assert len(first) == 16 and all(torch.equal(a[0], b[0]) for a, b in zip(first, again))
    assert not torch.equal(first[0][0], other[0][0]) and not torch.equal(first[0][0], first[1][0])
    assert all(sample[0].shape == inputs[0].shape and torch.equal(sample[1], inputs[1]) for sample in first)


@pytest.mark.parametrize("runtime", INT8_RUNTIMES)
def test_a_plain_conv_in_int8_is_within_the_stated_sqnr_of_float32(runtime):
    module = convbench.build("conv", 32, 32, 3, 1)
    inputs = convbench.example_inputs("conv", 1, 32, 16, 16)
    reference = check_runs(module, inputs, threads=1)
    report: dict = {}
    output = check_runs(module, inputs, threads=1, backend=runtime, dtype="int8", report=report)
    sqnr = backends.sqnr_db(reference, output)
    assert CONV_INT8_SQNR_DB <= sqnr < 60, (runtime, sqnr)  # quantized (not float) and close
    assert "per-channel" in report["int8_scheme"] and "seed 0" in report["int8_calibration"]


@pytest.mark.parametrize("runtime", ["eager", "compile"])
def test_int8_on_a_runtime_without_a_quantizer_cannot_take_it(runtime):
    with pytest.raises(backends.BackendCannotTake, match="int8 runs on executorch, onnxruntime, openvino"):
        check_runs(nn.Conv2d(2, 2, 1), (torch.randn(1, 2, 3, 3),), threads=1, backend=runtime, dtype="int8")


@needs_executorch
def test_ops_xnnpack_does_not_take_are_named_and_the_rest_is_delegated():
    report: dict = {}
    module, inputs = convbench.build("octave", 16, 16, 3, 1), convbench.example_inputs("octave", 1, 16, 8, 8)
    output = check_runs(module, inputs, threads=1, backend="executorch", report=report)
    assert backends.difference(check_runs(module, inputs, threads=1), output)[1] <= backends.TOLERANCE["float32"]
    assert report["ops_not_delegated"] == 1 and "upsample_nearest2d" in report["ops_not_delegated_names"]
    assert report["delegated_ops"] > 0 and report["runtime_threads"] == 1
    plain: dict = {}
    check_runs(nn.Conv2d(4, 4, 3), (torch.randn(1, 4, 6, 6),), threads=1, backend="executorch", report=plain)
    assert plain["ops_not_delegated"] == 0 and plain["ops_not_delegated_names"] == ""


class DataDependent(nn.Module):
    """A branch on a value: torch.export cannot trace it."""

    def forward(self, x):
        return x * 2 if x.sum() > 0 else x - 1


@needs_executorch
def test_a_module_executorch_cannot_export_is_refused_naming_why():
    with pytest.raises(backends.BackendCannotTake, match="executorch cannot take it: torch.export failed"):
        check_runs(DataDependent(), (torch.randn(1, 2, 3, 3),), threads=1, backend="executorch")


@needs_executorch
def test_a_second_call_on_inputs_set_once_gives_the_same_answer():
    """With planned inputs the planner reused an int8 Octave layer's input memory, and a second
    execute read garbage (1.8 dB): inputs are left unplanned, read where the case keeps them."""
    module, inputs = convbench.build("octave", 16, 16, 3, 1), convbench.example_inputs("octave", 1, 16, 8, 8)
    from convbench.timing.settings import TimingSettings
    from convbench.timing.timer import PreparedCall

    call = PreparedCall(module, inputs, TimingSettings(backend="executorch", dtype="int8", threads=1))
    first = [t.clone() for t in call.call()]
    second = call.call()
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert backends.sqnr_db(module(*inputs), second) > 25


@needs_executorch
def test_one_process_holds_executorch_at_one_thread_count_while_a_program_is_loaded():
    from convbench.timing.settings import TimingSettings
    from convbench.timing.timer import PreparedCall

    module, inputs = nn.Conv2d(4, 4, 3), (torch.randn(1, 4, 6, 6),)
    held = PreparedCall(module, inputs, TimingSettings(backend="executorch", threads=1))
    with pytest.raises(backends.BackendCannotTake, match="thread pool is at 1 threads"):
        PreparedCall(module, inputs, TimingSettings(backend="executorch", threads=2))
    del held
    gc.collect()
    report: dict = {}
    check_runs(module, inputs, threads=2, backend="executorch", report=report)  # free again: resized
    assert report["runtime_threads"] == 2


EDGE = """\
name: edge-test
backends: [{backend}]
dtype: [float32, int8]
timing: {{min_span: 0, min_time: 0.02, rounds: 5, threads: {threads}, warmup_time: 0.0}}
shapes:
  - {{in_channels: 8, size: 8}}
variants: [conv, depthwise]
"""


@pytest.mark.parametrize("backend,threads", [*[(name, 1) for name in INT8_RUNTIMES],
                                              *([("executorch", "[1, 2]")] if HAS_EXECUTORCH else [])])
def test_int8_rows_are_timed_against_int8_conv_and_their_own_float32(backend, threads):
    measured = [(measurement.row(), raw) for measurement, raw in
                run_suite(make_plan(parse_config(EDGE.format(backend=backend, threads=threads))))]
    rows = [row for row, _ in measured]
    assert all(row["status"] == "ok" for row in rows), [row["error"] for row in rows]
    assert len(rows) == 4 * (2 if threads != 1 else 1)
    for row, raw in measured:
        if row["dtype"] == "int8":
            assert row["quant_sqnr_db"] > 20 and row["latency_vs_float32"] > 0
            assert row["float32_ratio_low"] <= row["float32_ratio_high"]
        else:
            assert "quant_sqnr_db" not in row and row["backend_max_rel_diff"] <= 1e-4
        base = next(raw_ for row_, raw_ in measured if row_["variant"] == "conv" and row_["dtype"] == row["dtype"]
                    and row_.get("threads") == row.get("threads"))
        if row["variant"] == "conv":
            assert row["latency_vs_baseline"] == 1.0
        else:  # its baseline is conv in its own precision at its own thread count
            assert raw["round_ratios"] == [v / b for v, b in zip(raw["round_ms"], base["round_ms"])]
    assert len({row["case_id"] for row in rows}) == len(rows)


def test_a_config_with_one_dtype_keeps_its_case_ids():
    text = EDGE.format(backend="onnxruntime", threads=1).replace("dtype: [float32, int8]", "dtype: float32")
    single, listed = parse_config(text), parse_config(text.replace("dtype: float32", "dtype: [float32]"))
    assert [c.case_id for c in make_plan(single).cases] == [c.case_id for c in make_plan(listed).cases]
    assert single.precisions == ["float32"] and listed.dtypes == []


@pytest.mark.parametrize("change,message", [
    ("backends: [eager, compile]", "int8 runs on executorch, onnxruntime, openvino"),
    ("dtype: [float32, int4]", "dtype[1]"),
    ("dtype: []", "dtype"),
])
def test_a_bad_precision_in_a_config_is_a_located_error(change, message):
    text = EDGE.format(backend="onnxruntime", threads=1)
    key = change.split(":")[0]
    lines = [change if line.startswith(key + ":") else line for line in text.splitlines()]
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config("\n".join(lines))


def test_int8_with_training_is_refused():
    text = EDGE.format(backend="eager", threads=1).replace("dtype: [float32, int8]", "dtype: int8").replace(
        "warmup_time: 0.0", "warmup_time: 0.0, training: true")
    with pytest.raises(ConfigError, match="int8 is post-training quantized inference"):
        parse_config(text)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=25), st.lists(st.sampled_from([*PRECISIONS, "int4", "fp8", ""]), max_size=4)
                 .map(",".join)))
def test_dtype_option_is_precisions_or_one_line_exit_2(text):
    result = CliRunner().invoke(main, ["compare", "conv", "--no-timing", "--backend", "onnxruntime", "--dtype", text],
                                env={"COLUMNS": "200"})
    parts = [p.strip() for p in text.split(",")]
    if all(p in PRECISIONS for p in parts) and "onnxruntime" in INT8_RUNTIMES:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.parametrize("runtime,package,args,fragments", [
    ("executorch", "executorch", [], ("backend executorch needs the", "convbench[executorch]")),
    ("openvino", "nncf", ["--dtype", "int8"], ("openvino in int8 needs nncf", "convbench[openvino]")),
])
def test_a_missing_extra_is_one_line_naming_it(monkeypatch, runtime, package, args, fragments):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))
    result = CliRunner().invoke(main, ["compare", "depthwise", "--backend", runtime, "--no-timing", *args])
    assert_one_line_exit_2(result, *fragments)
