"""Runtimes as their makers time them: the settings reach the runtime, the timed call reads the
inputs where they are (no host copy), torch.compile rows say whether compiled code ran, and a
backend spec is either a runtime (and mode) or a one-line error."""

from __future__ import annotations

import importlib.util
import json
import time

import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convbench import backends
from convbench.cli import main
from convbench.timing import TimingSettings, check_runs
from convbench.timing.quiesce import settle
from convbench.timing.timer import PreparedCall

RUNTIMES = [name for name, package in (("onnxruntime", "onnxruntime"), ("openvino", "openvino"),
                                         ("executorch", "executorch"))
            if importlib.util.find_spec(package)]
ALL = ["eager", "compile", *RUNTIMES]


def _prepare(spec: str, module: nn.Module, x: torch.Tensor, threads: int = 1):
    with torch.no_grad():
        return backends.prepare(spec, module.eval(), (x,), threads, torch.device("cpu"))


@pytest.mark.skipif("openvino" not in RUNTIMES, reason="needs the openvino extra")
def test_openvino_is_compiled_with_static_shapes_pinned_threads_and_the_latency_hint():
    x = torch.randn(1, 8, 12, 10)
    compiled = _prepare("openvino", nn.Conv2d(8, 8, 3, padding=1), x, threads=2).compiled
    shape = compiled.input(0).get_partial_shape()
    assert shape.is_static and [d.get_length() for d in shape] == [1, 8, 12, 10]
    assert compiled.get_property("INFERENCE_NUM_THREADS") == 2
    assert int(compiled.get_property("NUM_STREAMS")) == 1
    assert compiled.get_property("ENABLE_CPU_PINNING") is True
    assert str(compiled.get_property("PERFORMANCE_HINT")) == "LATENCY"
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>"


@pytest.mark.skipif("onnxruntime" not in RUNTIMES, reason="needs the onnx extra")
def test_onnxruntime_runs_fully_optimised_sequential_at_the_thread_count():
    import onnxruntime as ort

    options = _prepare("onnxruntime", nn.Conv2d(8, 8, 3, padding=1), torch.randn(1, 8, 6, 6), threads=2).session \
        .get_session_options()
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)


@pytest.mark.parametrize("spec", ALL)
def test_the_timed_call_reads_the_inputs_in_place(spec):
    """The runtime reads the very memory the case's input lives in: its address is the tensor's,
    and a change made to the tensor after preparation is what the next call computes on (a copy
    taken at preparation would miss it)."""
    module, x = nn.Conv2d(4, 4, 3, padding=1).eval(), torch.randn(1, 4, 9, 9)
    prepared = PreparedCall(module, (x,), TimingSettings(threads=1, backend=spec))
    [own] = prepared.inputs
    assert prepared.call.input_pointers() == [own.data_ptr()]
    with torch.no_grad():
        own.mul_(-3.0).add_(1.0)
        expected = prepared.model(own)
    got = backends.outputs_of(prepared.call())[0]
    assert torch.allclose(got, expected.double(), atol=1e-4)


@pytest.mark.parametrize("spec", ["eager", "compile"])
def test_a_torch_call_allocates_less_than_one_copy_of_its_input(spec):
    """On torch runtimes, memory a call allocates is counted by the profiler: a strided conv to
    one channel outputs 1/256 of its input, so a call that copied the input would allocate more
    than the input's size."""
    from torch.profiler import ProfilerActivity, profile

    module, x = nn.Conv2d(64, 1, 3, stride=4, padding=1).eval(), torch.randn(1, 64, 56, 56)
    prepared = PreparedCall(module, (x,), TimingSettings(threads=1, backend=spec))
    with prepared.settings(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as trace:
        prepared.call()
    allocated = sum(e.cpu_memory_usage for e in trace.events() if e.cpu_memory_usage > 0)
    output = 1 * 1 * 14 * 14 * 4
    assert output <= allocated < x.numel() * x.element_size(), (allocated, x.numel() * 4)


class GraphBreak(nn.Module):
    """Two convs with a graph break between them: two compiled graphs, Python between."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        y = self.a(x)
        torch._dynamo.graph_break()
        return self.b(y)


class NothingCompiled(nn.Module):
    """A forward dynamo is told to skip (as it skips code it cannot trace): no graph, so the
    module runs eagerly under torch.compile."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(4, 4, 3, padding=1)

    @torch._dynamo.disable
    def forward(self, x):
        return self.a(x)


def test_a_graph_break_is_counted_and_a_whole_graph_is_not():
    x = torch.randn(1, 4, 8, 8)
    whole, broken = {}, {}
    check_runs(nn.Conv2d(4, 4, 3, padding=1), (x,), threads=1, backend="compile", report=whole)
    check_runs(GraphBreak(), (x,), threads=1, backend="compile", report=broken)
    assert whole == {"dynamo_graphs": 1, "dynamo_graph_breaks": 0, "dynamo_eager_frames": 0, "dynamo_recompiles": 0}
    assert broken["dynamo_graphs"] == 2 and broken["dynamo_graph_breaks"] == 1
    assert broken["dynamo_recompiles"] == 0


def test_a_module_that_runs_no_compiled_code_is_refused_naming_why():
    from convbench.backends.torch_compile import NotCompiled

    with pytest.raises(NotCompiled, match=r"compile ran no compiled code: dynamo (captured no graph|broke the graph on every op "
                                          r"\(Skip inlining `torch.compiler.disable\(\)`d)"):
        check_runs(NothingCompiled(), (torch.randn(1, 4, 8, 8),), threads=1, backend="compile")


def test_more_shapes_than_dynamos_recompile_limit_each_get_compiled_code():
    """With dynamo's default limit of 8 graphs per code object, the 9th conv shape compiled in one
    process would run eagerly under the compile label."""
    limit = torch._dynamo.config.recompile_limit
    for channels in range(1, limit + 3):
        report = {}
        check_runs(nn.Conv2d(channels, channels, 3, padding=1), (torch.randn(1, channels, 5, 5),), threads=1,
                   backend="compile", report=report)
        assert report["dynamo_graphs"] == 1, (channels, report)


@pytest.mark.parametrize("model,breaks", [("GraphBreak", 1), ("NothingCompiled", None)])
def test_compile_rows_carry_dynamo_counts_and_uncompiled_modules_are_error_rows(model, breaks):
    result = CliRunner().invoke(main, ["compare", "conv", "--model", f"{__name__}:{model}", "--input", "4,8,8",
                                       "--backend", "compile", "--quick", "--threads", "1", "--json"])
    assert result.exit_code == (1 if breaks is None else 0), result.output  # 1: every case failed
    [row] = json.loads(result.stdout)["rows"]
    if breaks is None:
        assert row["status"] == "error" and "compile ran no compiled code" in row["error"]
    else:
        assert row["status"] == "ok" and row["dynamo_graph_breaks"] == breaks and row["dynamo_graphs"] == 2


def test_the_compile_mode_is_in_the_row_the_case_id_and_the_metadata():
    ids = {}
    for spec, mode in (("compile:default", "default"), ("compile:max-autotune", "max-autotune")):
        result = CliRunner().invoke(main, ["compare", "depthwise", "--shape", "in=4,out=4,k=3,size=8", "--backend",
                                           spec, "--quick", "--threads", "1", "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        shown = backends.canonical(spec)
        assert shown == ("compile" if mode == "default" else spec)
        assert {r["backend"] for r in data["rows"]} == {shown}
        assert data["metadata"]["backend_settings"][shown]["1"]["mode"] == mode
        ids[mode] = {r["variant"]: r["case_id"] for r in data["rows"]}
    assert ids["default"].keys() == ids["max-autotune"].keys() == {"conv", "depthwise"}
    assert not set(ids["default"].values()) & set(ids["max-autotune"].values())


def test_reduce_overhead_on_the_cpu_is_a_skipped_row_naming_cuda_graphs():
    with pytest.raises(backends.BackendCannotTake, match="reduce-overhead records CUDA graphs; it needs a CUDA"):
        check_runs(nn.Conv2d(2, 2, 1), (torch.randn(1, 2, 3, 3),), threads=1, backend="compile:reduce-overhead")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=30), st.sampled_from(["compile:", "compile:max-autotune", "eager:x",
                                                         "openvino:default", "compile:default:x", ":compile"])))
def test_a_backend_spec_is_a_runtime_and_mode_or_one_line_error(spec):
    from convbench.backends.torch_compile import MODES

    try:
        name, option = backends.parse(spec)
    except ValueError as error:
        assert "\n" not in str(error) and str(error).startswith("backend ")
        return
    assert name in backends.BACKENDS
    assert spec == name if option is None else (name == "compile" and option in MODES and spec == f"compile:{option}")


def test_settle_waits_for_a_spinning_thread_to_stop():
    import threading

    stop = time.perf_counter() + 0.1
    spinner = threading.Thread(target=lambda: [None for _ in iter(lambda: time.perf_counter() < stop, False)])
    spinner.start()
    waited = settle(max_wait=1.0)
    spinner.join()
    assert 0.08 <= waited < 0.5, waited
