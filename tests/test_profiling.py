"""Per-op latency beside per-op MACs: the join of a runtime's spans with the counted ops, on
synthetic profiles where the right answer is known; the readers of each runtime's trace on
synthetic traces; on the real runtimes, every MAC a layer does lands on an op, as many as the
closed form says; and the refusals, one line each."""

from __future__ import annotations

import datetime
import importlib.util
import json
import types

import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st
from torch import nn

from convbench import backends
from convbench.backends.errors import CannotProfile
from convbench.backends.profiled import MULTIPLY, OTHER, RUNTIME, OpSpan, RuntimeProfile, merged
from convbench.backends.runtime import Runtime
from convbench.cli import main
from convbench.counting.per_op import OpCost, op_costs
from convbench.profiling import ProfileTable, joined, profile_module, why
from convbench.registry import build, example_inputs, get_variant
from tests.cli_checks import assert_one_line_exit_2


def profile_of(spans, end_to_end_s=1.0, maps_modules=True, calls=1):
    return RuntimeProfile("test", "synthetic", tuple(spans), end_to_end_s, calls, 0, maps_modules)


# --- the join, on synthetic profiles ---------------------------------------------------------

def test_aten_spans_take_the_counted_ops_they_ran_in_their_module():
    spans = [OpSpan("Python in forward", RUNTIME, 0.05, 1, ""),
             OpSpan("aten::cat", OTHER, 0.61, 1, "", ("aten.cat",)),
             OpSpan("aten::conv2d", MULTIPLY, 0.20, 1, "", ("aten.conv2d", "aten.convolution")),
             OpSpan("aten::conv2d", MULTIPLY, 0.10, 1, "head", ("aten.conv2d", "aten.convolution"))]
    costs = [OpCost("", "aten.cat", 0, 3_200_000), OpCost("", "aten.convolution", 1000, 400),
             OpCost("head", "aten.convolution", 50, 40), OpCost("head", "aten.view", 0, 0)]
    table = joined(profile_of(spans), costs)
    assert [row.macs for row in table.rows] == [None, 0, 1000, 50]
    assert [row.bytes_moved for row in table.rows] == [None, 3_200_000, 400, 40]
    assert table.unjoined_macs == 0 and table.macs == 1050
    assert table.rows[2].macs_per_byte == 2.5
    assert [row.share for row in table.rows] == [0.05, 0.61, 0.20, 0.10]
    assert table.accounted_share == pytest.approx(0.96) and table.unaccounted_s == pytest.approx(0.04)
    assert table.op_share == pytest.approx(0.91)  # the runtime's own work is not an op
    assert table.runtime_share == pytest.approx(0.05)
    assert table.module_share == pytest.approx(0.10)  # only "head" is a module below the model


def test_two_calls_of_one_op_take_two_counted_ops_and_a_third_span_the_rest():
    spans = [OpSpan("aten::convolution", MULTIPLY, 0.3, 2, None, ("aten.convolution",)),
             OpSpan("aten::convolution", MULTIPLY, 0.1, 1, None, ("aten.convolution",))]
    costs = [OpCost("a", "aten.convolution", 10, 1), OpCost("b", "aten.convolution", 20, 2),
             OpCost("c", "aten.convolution", 40, 4)]
    table = joined(profile_of(spans, maps_modules=False), costs)
    assert [row.macs for row in table.rows] == [30, 40]


def test_a_counted_op_no_span_ran_is_unjoined():
    spans = [OpSpan("aten::add", OTHER, 0.1, 1, "", ("aten.add",))]
    table = joined(profile_of(spans), [OpCost("", "aten.mm", 64, 8), OpCost("", "aten.add", 0, 24)])
    assert table.unjoined_macs == 64 and table.rows[0].macs == 0 and table.rows[0].bytes_moved == 24


def test_a_runtimes_own_ops_pair_with_the_counted_multiplying_ops_in_order():
    spans = [OpSpan("Transpose", OTHER, 0.1), OpSpan("DWConv", MULTIPLY, 0.2), OpSpan("GEMM", MULTIPLY, 0.5),
             OpSpan("delegate, outside its ops", RUNTIME, 0.01)]
    costs = [OpCost("depthwise", "aten.convolution", 1806336, 1607936), OpCost("pointwise", "aten.view", 0, 0),
             OpCost("pointwise", "aten.convolution", 12845056, 1622016)]
    table = joined(profile_of(spans, maps_modules=False), costs)
    assert [row.macs for row in table.rows] == [0, 1806336, 12845056, None]
    assert [row.bytes_moved for row in table.rows] == [None, 1607936, 1622016, None]
    assert table.unjoined_macs == 0


def test_a_fused_pair_of_multiplying_ops_leaves_their_macs_unjoined():
    spans = [OpSpan("FusedConv", MULTIPLY, 0.7), OpSpan("Relu", OTHER, 0.1)]
    costs = [OpCost("a", "aten.convolution", 100, 10), OpCost("b", "aten.convolution", 300, 30)]
    table = joined(profile_of(spans, maps_modules=False), costs)
    assert table.rows[0].macs is None and table.unjoined_macs == 400


def test_in_order_pairing_is_per_module_where_the_runtime_names_modules():
    spans = [OpSpan("Convolution", MULTIPLY, 0.2, 1, "b"), OpSpan("Convolution", MULTIPLY, 0.3, 1, "a")]
    costs = [OpCost("a", "aten.convolution", 7, 1), OpCost("b", "aten.convolution", 11, 1)]
    table = joined(profile_of(spans, maps_modules=True), costs)
    assert [row.macs for row in table.rows] == [11, 7]


def test_merged_spans_are_per_model_call():
    spans = [OpSpan("Conv", MULTIPLY, 0.002), OpSpan("Conv", MULTIPLY, 0.004), OpSpan("Add", OTHER, 0.001)]
    merged_spans = merged(spans, 2)
    assert merged_spans == (OpSpan("Conv", MULTIPLY, 0.003, 1), OpSpan("Add", OTHER, 0.0005, 1))


# --- the why line -----------------------------------------------------------------------------

def test_why_names_a_dominant_op_that_does_no_macs_and_what_it_moves():
    spans = [OpSpan("aten::cat", OTHER, 0.61, 1, "", ("aten.cat",)),
             OpSpan("aten::conv2d", MULTIPLY, 0.30, 1, "", ("aten.convolution",))]
    table = joined(profile_of(spans), [OpCost("", "aten.cat", 0, 3_200_000), OpCost("", "aten.convolution", 9, 9)])
    assert why(table) == "61% in aten::cat, which does no MACs: it moves 3.2 MB per call"


def test_why_gives_a_dominant_multiplying_ops_rate_from_its_macs_and_time():
    spans = [OpSpan("Conv", MULTIPLY, 0.002, 1, "stem"), OpSpan("Relu", OTHER, 0.0005, 1, "stem")]
    table = joined(profile_of(spans, end_to_end_s=0.0025), [OpCost("stem", "aten.convolution", 10_000_000, 4_000_000)])
    assert why(table) == "80% in Conv in stem: 10,000,000 MACs at 5 GMAC/s at 2.5 MACs/byte"


def test_why_is_silent_when_nothing_takes_half_and_names_the_time_outside_every_op():
    even = joined(profile_of([OpSpan("a", OTHER, 0.4), OpSpan("b", OTHER, 0.4)]), [])
    assert why(even) is None
    overhead = joined(profile_of([OpSpan("a", OTHER, 0.3)], end_to_end_s=1.0), [])
    assert why(overhead).startswith("70% outside every op")


# --- a table travels as JSON in a results row -----------------------------------------------

def test_a_table_survives_its_json():
    spans = [OpSpan("aten::cat", OTHER, 0.61, 1, "", ("aten.cat",)), OpSpan("x", RUNTIME, 0.1)]
    table = joined(profile_of(spans), [OpCost("", "aten.cat", 0, 5)])
    assert ProfileTable.from_json(table.to_json()) == table


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=60), st.recursive(st.none() | st.integers() | st.text(max_size=5),
                                                      lambda inner: st.lists(inner, max_size=4)
                                                      | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                                                      max_leaves=12).map(json.dumps)))
def test_a_results_file_that_is_not_a_profile_is_one_value_error(text):
    try:
        ProfileTable.from_json(text)
    except ValueError as error:
        assert "\n" not in str(error) and str(error).startswith("not a profile table")


# --- each runtime's trace, read on synthetic traces ---------------------------------------------

def test_onnxruntime_trace_uses_the_last_runs_and_names_the_executors_own_time():
    from convbench.backends.onnx_profiling import EXECUTOR, EXECUTOR_OWN, read

    def run(ts, conv_us, relu_us, executor_us, run_us):
        return [{"cat": "Session", "name": "model_run", "ts": ts, "dur": run_us},
                {"cat": "Session", "name": EXECUTOR, "ts": ts + 1, "dur": executor_us},
                {"cat": "Node", "name": "/conv/Conv_kernel_time", "ts": ts + 2, "dur": conv_us,
                 "args": {"op_name": "Conv"}},
                {"cat": "Node", "name": "Relu_kernel_time", "ts": ts + 3 + conv_us, "dur": relu_us,
                 "args": {"op_name": "Relu"}}]

    events = run(0, 5000, 5000, 11000, 12000) + run(100_000, 300, 100, 450, 500) + run(200_000, 500, 100, 650, 700)
    profile = read(events, calls=2, warmup=1)
    spans = {span.op: span for span in profile.spans}
    assert spans["Conv /conv/Conv"].seconds == pytest.approx(400e-6) and spans["Conv /conv/Conv"].kind == MULTIPLY
    assert spans["Relu"].seconds == pytest.approx(100e-6) and spans["Relu"].kind == OTHER
    assert spans[EXECUTOR_OWN].seconds == pytest.approx(50e-6) and spans[EXECUTOR_OWN].kind == RUNTIME
    assert profile.end_to_end_s == pytest.approx(600e-6)
    with pytest.raises(CannotProfile, match="holds 3 runs, not the 5"):
        read(events, calls=5)


def test_etdump_events_drop_the_warmup_runs_and_split_containers_from_their_ops():
    from convbench.backends.executorch_profiling import CONTAINERS, read

    events = [("Method::execute", False, [9.0, 1.0, 1.2]),
              ("DELEGATE_CALL", False, [8.0, 0.7, 0.9]),
              ("Convolution (NHWC, F32) DWConv #1", True, [7.0, 0.5, 0.7]),
              ("OPERATOR_CALL", False, [0.5, 0.25, 0.25]),
              ("native_call_add.out", False, [0.4, 0.2, 0.2])]
    profile = read(events, calls=2, warmup=1)
    spans = {span.op: span for span in profile.spans}
    assert profile.end_to_end_s == pytest.approx(1.1e-3)
    assert spans["Convolution (NHWC, F32) DWConv #1"].seconds == pytest.approx(0.6e-3)
    assert spans["Convolution (NHWC, F32) DWConv #1"].kind == MULTIPLY
    assert spans[CONTAINERS["DELEGATE_CALL"]].seconds == pytest.approx(0.2e-3)
    assert spans[CONTAINERS["OPERATOR_CALL"]].seconds == pytest.approx(0.05e-3)
    assert profile.accounted_s == pytest.approx(0.6e-3 + 0.2e-3 + 0.2e-3 + 0.05e-3)


def test_openvino_running_means_give_the_profiled_calls_own_mean():
    from convbench.backends.openvino_profiling import _totals, module_of

    def info(mean_us):
        return [types.SimpleNamespace(node_name="__module.pointwise/aten::_convolution/Convolution",
                                      node_type="Convolution", exec_type="brgconv_avx2_1x1_f32",
                                      status=types.SimpleNamespace(name="EXECUTED"),
                                      real_time=datetime.timedelta(microseconds=mean_us))]

    # 3 warm-up calls of 900 us, then 20 calls of 300 us: running means 900 us and 378.26... us
    before = _totals(info(900), 3)
    after = _totals(info((3 * 900 + 20 * 300) / 23), 23)
    name = "__module.pointwise/aten::_convolution/Convolution"
    assert (after[name][2] - before[name][2]) / 20 == pytest.approx(300e-6, rel=1e-3)
    assert after[name][:2] == ("Convolution (brgconv_avx2_1x1_f32)", MULTIPLY)
    assert module_of(name) == "pointwise" and module_of("aten::_convolution/Convolution") == ""
    assert module_of("__module.layer1.0/__module.layer1.0.conv1/aten::_convolution/Convolution") == "layer1.0.conv1"


# --- the real runtimes: every MAC of a layer lands on an op ------------------------------------

RUNTIMES = [spec for spec, package in (("eager", "torch"), ("compile", "torch"), ("onnxruntime", "onnxruntime"),
                                       ("openvino", "openvino"), ("executorch", "executorch"))
            if importlib.util.find_spec(package)]


@pytest.mark.parametrize("spec", RUNTIMES)
def test_separable_s_two_convolutions_get_their_closed_form_macs_on_every_runtime(spec):
    c, h, w, k, out = 8, 12, 12, 3, 16
    module = build("separable", c, out, k, 1).eval()
    inputs = example_inputs("separable", 2, c, h, w)
    table = profile_module(spec, module, inputs, threads=1, calls=2, warmup=1)
    formula = get_variant("separable").cost(c, out, k, 1, h, w)
    rows = [row for row in table.rows if row.macs]
    depthwise, pointwise = 2 * c * k * k * h * w, 2 * c * out * h * w  # batch 2
    if len(rows) == 1:  # one op name for both, no module to tell them apart (torch.compile's calls out)
        assert rows[0].calls == 2 and rows[0].macs == depthwise + pointwise
    else:
        assert sorted(row.macs for row in rows) == sorted([depthwise, pointwise])
    assert sum(row.macs for row in rows) == 2 * formula.macs and table.unjoined_macs == 0
    assert table.end_to_end_s > 0 and all(row.seconds >= 0 for row in table.rows)
    if table.maps_modules:
        assert {row.module for row in table.rows if row.macs} == {"depthwise", "pointwise"}


def test_eager_names_the_module_of_every_op_of_a_network():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4))
    table = profile_module("eager", model, (torch.randn(1, 3, 8, 8),), threads=1, calls=2, warmup=1)
    named = {name for name, _ in model.named_modules()}
    assert all(row.module in named for row in table.rows)
    assert {row.module for row in table.rows if row.macs} == {"0", "4"}
    assert sum(row.macs for row in table.rows if row.macs) == 3 * 8 * 9 * 36 + 8 * 36 * 4


# --- refusals ----------------------------------------------------------------------------------

def test_a_runtime_without_a_profiler_refuses_in_one_line():
    class Plain(Runtime):
        name = "plain"

    with pytest.raises(CannotProfile, match="^plain has no per-op profiler in convbench$"):
        Plain().profile(nn.Identity(), (torch.ones(1),), 1, torch.device("cpu"))


@pytest.mark.parametrize("spec", ["eager", "compile"])
def test_torch_profiling_off_the_cpu_is_refused(spec):
    with pytest.raises(CannotProfile, match="CPU only"):
        backends.runtime(spec).profile(nn.Conv2d(1, 1, 1), (torch.ones(1, 1, 2, 2),), 1, torch.device("cuda"))


def test_profile_calls_must_be_at_least_one():
    with pytest.raises(ValueError, match="calls=0 must be >= 1"):
        profile_module("eager", nn.Conv2d(1, 1, 1), (torch.ones(1, 1, 2, 2),), 1, calls=0)


@pytest.mark.parametrize("args, fragment", [
    (["show", "conv", "--backend", "onnxruntime"], "--backend, --threads and --by-module go with --timing"),
    (["show", "conv", "--timing", "--training"], "--timing profiles inference"),
    (["show", "conv", "--timing", "--backend", "compile:reduce-overhead"], "compile:reduce-overhead: compile cannot take it"),
])
def test_show_timing_refusals_are_one_line(args, fragment):
    assert_one_line_exit_2(CliRunner().invoke(main, args), fragment)


def test_show_timing_json_puts_every_mac_of_the_layer_on_an_op():
    result = CliRunner().invoke(main, ["show", "depthwise", "--shape", "in=4,out=4,k=3,size=10", "--timing", "--json"])
    assert result.exit_code == 0, result.output
    (found,) = json.loads(result.output)
    assert found["backend"] == "eager" and found["profiled_ms"] > 0 and found["timed_ms"] > 0
    assert sum(op["macs"] or 0 for op in found["ops"]) == 4 * 9 * 10 * 10 and found["unjoined_macs"] == 0


def test_op_costs_follow_the_forward_in_order():
    model = nn.Sequential(nn.Conv2d(2, 3, 1, bias=False), nn.ReLU())
    costs = op_costs(model, torch.ones(1, 2, 4, 4))
    assert [(c.module, c.op, c.macs) for c in costs] == [("0", "aten.convolution", 2 * 3 * 16), ("1", "aten.relu", 0)]
    assert costs[0].bytes_moved == 4 * (2 * 16 + 3 * 2 + 3 * 16)  # input, weight, output in float32


# --- timing.profile: true in a run -------------------------------------------------------------

PROFILED = """
name: profiled
baseline: conv
devices: [cpu]
dtype: [float32, float16]
timing: {{min_time: 0.02, rounds: 5, min_span: 0, threads: 1, profile: {profile}}}
shapes: [{{batch: 1, in_channels: 4, out_channels: 4, kernel_size: 3, size: 8}}]
variants: [conv, depthwise]
"""


def test_a_profiled_run_gives_each_float32_row_its_ops_and_says_why_others_have_none():
    from convbench.plan.expand import make_plan
    from convbench.plan.loading import parse_config
    from convbench.present.report import markdown_report
    from convbench.store.schema import frame
    from convbench.suite.runner import run_suite

    rows = [m.row() for m, _ in run_suite(make_plan(parse_config(PROFILED.format(profile="true"))))]
    by = {(row["variant"], row["dtype"]): row for row in rows}
    depthwise = by[("depthwise", "float32")]
    table = ProfileTable.from_json(depthwise["profile_ops"])
    assert sum(row.macs or 0 for row in table.rows) == 4 * 9 * 64 and depthwise["profile_unjoined_macs"] == 0
    assert depthwise["profiled_latency_ms"] == pytest.approx(table.end_to_end_s * 1e3)
    assert by[("conv", "float16")]["profile_error"] == "profiled in float32 inference only"
    report = markdown_report(frame(rows), {"parts": [{"config": "profiled"}]}, "convbench run profiled.yaml")
    assert "Where the time goes" in report and "depthwise on eager" in report
    unprofiled = [m.row() for m, _ in run_suite(make_plan(parse_config(PROFILED.format(profile="false"))))]
    assert not any("profile_ops" in row or "profile_error" in row for row in unprofiled)


def test_timing_profile_must_be_a_flag():
    from convbench.plan.config import ConfigError
    from convbench.plan.loading import parse_config

    with pytest.raises(ConfigError, match="timing.profile: must be true or false, got 3"):
        parse_config(PROFILED.format(profile="3"))


def test_an_aten_span_multiplies_when_its_ops_did_macs_whatever_its_name():
    spans = [OpSpan("aten::upsample_bilinear2d", MULTIPLY, 0.1, 1, "", ("aten.upsample_bilinear2d",)),
             OpSpan("aten::einsum", OTHER, 0.1, 1, "", ("aten.bmm", "aten.einsum"))]
    table = joined(profile_of(spans), [OpCost("", "aten.upsample_bilinear2d", 0, 80), OpCost("", "aten.bmm", 6, 8)])
    assert [row.kind for row in table.rows] == [OTHER, MULTIPLY]


def test_per_module_rows_add_up_their_spans_and_refuse_without_modules():
    from convbench.profiling import by_module

    spans = [OpSpan("Python in forward", RUNTIME, 0.05, 1, "a"),
             OpSpan("aten::conv2d", MULTIPLY, 0.2, 1, "a", ("aten.convolution",)),
             OpSpan("aten::relu", OTHER, 0.1, 1, "a", ("aten.relu",)),
             OpSpan("aten::add", OTHER, 0.3, 2, "b", ("aten.add",))]
    costs = [OpCost("a", "aten.convolution", 40, 16), OpCost("a", "aten.relu", 0, 8), OpCost("b", "aten.add", 0, 12)]
    rows = {row.module: row for row in by_module(joined(profile_of(spans), costs)).rows}
    assert (rows["a"].seconds, rows["a"].macs, rows["a"].bytes_moved, rows["a"].kind) == (pytest.approx(0.35), 40, 24,
                                                                                         MULTIPLY)
    assert (rows["b"].calls, rows["b"].macs, rows["b"].kind) == (2, 0, OTHER)
    with pytest.raises(ValueError, match="names no module"):
        by_module(joined(profile_of(spans[1:2], maps_modules=False), costs))


def test_profiling_leaves_the_modules_mode_and_the_thread_count_as_they_were():
    model = nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2)).train()
    threads = torch.get_num_threads()
    profile_module("eager", model, (torch.randn(1, 2, 4, 4),), threads=1, calls=1, warmup=0)
    assert model.training and all(m.training for m in model.modules()) and torch.get_num_threads() == threads


def test_a_profile_that_breaks_costs_the_row_its_profile_only(monkeypatch):
    from convbench.plan.expand import make_plan
    from convbench.plan.loading import parse_config
    from convbench.suite import profiles
    from convbench.suite.runner import run_suite

    def broken(*args, **kwargs):
        raise RuntimeError("profiler crashed")

    monkeypatch.setattr(profiles, "profile_module", broken)
    rows = [m.row() for m, _ in run_suite(make_plan(parse_config(PROFILED.format(profile="true"))))]
    float32 = [row for row in rows if row["dtype"] == "float32"]
    assert float32 and all(row["status"] == "ok" and row["latency_ms"] > 0 for row in float32)
    assert all(row["profile_error"] == "RuntimeError: profiler crashed" for row in float32)
