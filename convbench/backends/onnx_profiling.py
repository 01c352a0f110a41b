"""Per-op times of ONNX Runtime, from its own profiler (``SessionOptions.enable_profiling``): a
span is a node of the optimised graph (its ``*_kernel_time`` event), or the executor's own time
between nodes (its ``SequentialExecutor::Execute`` event less theirs); the end-to-end time is its
``model_run`` event. Graph optimisation fuses and renames nodes (a Conv fused with its ReLU is
named after the ReLU's output), so a node does not name the module it came from reliably: spans
carry no module."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Callable

from convbench.backends.errors import CannotProfile
from convbench.backends.profiled import MULTIPLY, OTHER, RUNTIME, OpSpan, RuntimeProfile, merged

MULTIPLYING = {"Conv", "ConvTranspose", "Gemm", "MatMul", "FusedConv", "FusedGemm", "FusedMatMul", "NhwcFusedConv",
               "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "MatMulNBits", "Attention", "LSTM",
               "GRU", "RNN", "Einsum", "QGemm"}
EXECUTOR = "SequentialExecutor::Execute"
EXECUTOR_OWN = "executor, between its nodes"


def profile(start: Callable, options, calls: int, warmup: int) -> RuntimeProfile:
    """Profile ``warmup + calls`` calls of ``start(options)`` (a bound session call, with its
    ``session``), the options asking for ONNX Runtime's profiler."""
    with tempfile.TemporaryDirectory() as folder:
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(folder, "ort")
        call = start(options)
        for _ in range(warmup + calls):
            call()
        with open(call.session.end_profiling()) as trace:
            events = json.load(trace)
    return read(events, calls, warmup)


def read(events: list[dict], calls: int, warmup: int = 0) -> RuntimeProfile:
    """The profile of the last ``calls`` runs in an ONNX Runtime trace (its JSON events), after
    ``warmup`` runs not used."""
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e["ts"])[-calls:]
    if len(runs) < calls:
        raise CannotProfile(f"onnxruntime's trace holds {len(runs)} runs, not the {calls} profiled")

    def in_runs(event) -> bool:
        return any(run["ts"] <= event["ts"] <= run["ts"] + run["dur"] for run in runs)

    spans, executor = [], 0.0
    for event in events:
        if event.get("cat") == "Session" and event.get("name") == EXECUTOR and in_runs(event):
            executor += event["dur"] / 1e6
        if event.get("cat") != "Node" or not event.get("name", "").endswith("_kernel_time") or not in_runs(event):
            continue
        op = event.get("args", {}).get("op_name", "?")
        name = event["name"][:-len("_kernel_time")]
        seconds = event["dur"] / 1e6
        executor -= seconds
        spans.append(OpSpan(op if name == op else f"{op} {name}", MULTIPLY if op in MULTIPLYING else OTHER, seconds))
    if executor > 0:
        spans.append(OpSpan(EXECUTOR_OWN, RUNTIME, executor))
    return RuntimeProfile("onnxruntime", "ONNX Runtime's profiler: each node's kernel_time event; end to end: "
                          "its model_run event", merged(spans, calls),
                          sum(run["dur"] for run in runs) / 1e6 / calls, calls, warmup, False)
