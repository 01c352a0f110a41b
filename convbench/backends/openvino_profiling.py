"""Per-op times of OpenVINO, from its CPU plugin's performance counters (``PERF_COUNT``): a span
is a node of the compiled graph that executed (its ``real_time``), named by its type and the
kernel that ran it (``GroupConvolution (brgconv_avx2_dw_f32)``), the end-to-end time the
request's own ``latency``. The counters are a running mean over the request's calls since it was
made, in whole microseconds, so a fresh request is read after the warm-up calls and again after
the profiled ones, and the profiled calls' mean is taken from the two. Node names keep the
module a node was converted from (``__module.pointwise/aten::_convolution/Convolution``)."""

from __future__ import annotations

import re

from convbench.backends.errors import CannotProfile
from convbench.backends.profiled import MULTIPLY, OTHER, OpSpan, RuntimeProfile, merged

MULTIPLYING = {"Convolution", "GroupConvolution", "ConvolutionBackpropData", "GroupConvolutionBackpropData",
               "Deconvolution", "MatMul", "FullyConnected", "FullyConnectedCompressed", "ScaledDotProductAttention",
               "LSTMSequence", "GRUSequence", "RNNSequence", "LSTMCell", "GRUCell", "Einsum"}
_MODULE = re.compile(r"__module\.([^/]+)/")


def module_of(node_name: str) -> str | None:
    """The innermost module a converted node names (``__module.a.b/aten::...`` -> ``a.b``)."""
    found = _MODULE.findall(node_name)
    return found[-1] if found else ("" if "aten::" in node_name else None)


PROFILING = {"PERF_COUNT": True}  # what a model is compiled with for its counters


def profile(call, calls: int, warmup: int) -> RuntimeProfile:
    """Profile ``warmup + calls`` calls on a fresh request of ``call``'s compiled model (compiled
    with :data:`PROFILING`)."""
    import openvino as ov

    request = call.compiled.create_infer_request()
    for i, t in enumerate(call.inputs):
        request.set_input_tensor(i, ov.Tensor(t.numpy(), shared_memory=True))
    latencies, before = [], {}
    for n in range(warmup + calls):
        request.infer(share_outputs=True)
        latencies.append(request.latency / 1e3)
        if n + 1 == warmup:
            before = _totals(request.get_profiling_info(), warmup)
    after = _totals(request.get_profiling_info(), warmup + calls)
    spans = [OpSpan(op, kind, (total - before.get(name, (op, kind, 0.0))[2]) / calls, 1, module_of(name))
             for name, (op, kind, total) in after.items()]
    return RuntimeProfile("openvino", "OpenVINO CPU plugin's performance counters: each executed node's real_time "
                          "(mean over the profiled calls, from the plugin's running means); end to end: the "
                          "request's latency", merged(spans, 1),
                          sum(latencies[warmup:]) / calls, calls, warmup, True)


def _totals(info, calls: int) -> dict[str, tuple[str, str, float]]:
    """By node name: the op (its type and the kernel that ran it), its kind, and its total real
    time over ``calls`` calls in seconds, from the running means."""
    if not info:
        raise CannotProfile("openvino returned no performance counters")
    return {p.node_name: (f"{p.node_type} ({p.exec_type})", MULTIPLY if p.node_type in MULTIPLYING else OTHER,
                          p.real_time.total_seconds() * calls) for p in info if p.status.name == "EXECUTED"}
