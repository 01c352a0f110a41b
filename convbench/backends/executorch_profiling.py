"""Per-op times of ExecuTorch, from its own profiler (ETDump, read by ``executorch.devtools``'
Inspector): a span is an op XNNPACK ran inside a delegate call (``Convolution (NHWC, F32)
DWConv``), an op left on ExecuTorch's portable kernels, or a delegate call's (or a portable op call's) own
time outside the ops it holds; the end-to-end time is the ``Method::execute`` event. ETDump names no module for a
delegated op, so spans carry none."""

from __future__ import annotations

import os
import tempfile

from convbench.backends.errors import CannotProfile
from convbench.backends.profiled import MULTIPLY, OTHER, RUNTIME, OpSpan, RuntimeProfile, merged

MULTIPLYING = ("Convolution", "Fully Connected", "Batch Matrix Multiply", "Deconvolution", "convolution", "mm.out",
               "linear")
EXECUTE = "Method::execute"
# Calls that hold ops (XNNPACK's, or one portable kernel's): their own time outside them is a span.
CONTAINERS = {"DELEGATE_CALL": "XNNPACK delegate call, outside its ops",
              "OPERATOR_CALL": "portable op call, outside its kernel"}


def profile(program: bytes, inputs, calls: int, warmup: int) -> RuntimeProfile:
    """Profile ``warmup + calls`` calls of a lowered ``.pte`` program, loaded with ETDump on (in
    the thread pool the caller set)."""
    from executorch.devtools import Inspector
    from executorch.extension.pybindings import portable_lib

    try:
        loaded = portable_lib._load_for_executorch_from_buffer(program, enable_etdump=True)
    except Exception as error:
        raise CannotProfile(f"executorch cannot profile here: this build has no ETDump ({error})") from None
    kept = [t.detach().contiguous() for t in inputs]
    for _ in range(warmup + calls):
        loaded.forward(kept)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "profile.etdp")
        loaded.write_etdump_result_to_file(path)
        inspector = Inspector(etdump_path=path)
    return read([(event.name, event.is_delegated_op, list(event.perf_data.raw))
                 for block in inspector.event_blocks if block.name == "Execute"
                 for event in block.events if event.perf_data is not None], calls, warmup)


def read(events: list[tuple[str, bool, list[float]]], calls: int, warmup: int) -> RuntimeProfile:
    """The profile of ``(name, delegated, per-run milliseconds)`` events, their first ``warmup``
    runs left out."""
    def mean(raw):
        runs = raw[warmup:warmup + calls]
        if len(runs) < calls:
            raise CannotProfile(f"ETDump holds {len(runs)} profiled runs of an event, not {calls}")
        return sum(runs) / calls / 1e3

    execute = [mean(raw) for name, _, raw in events if name == EXECUTE]
    if not execute:
        raise CannotProfile("ETDump holds no Method::execute event")
    spans, held = [], {name: 0.0 for name in CONTAINERS}
    for name, is_delegated, raw in events:
        if name == EXECUTE:
            continue
        seconds = mean(raw)
        if name in CONTAINERS:
            held[name] += seconds
            continue
        held["DELEGATE_CALL" if is_delegated else "OPERATOR_CALL"] -= seconds
        spans.append(OpSpan(name, MULTIPLY if any(word in name for word in MULTIPLYING) else OTHER, seconds))
    spans += [OpSpan(CONTAINERS[name], RUNTIME, own) for name, own in held.items() if own > 0]
    return RuntimeProfile("executorch", "ExecuTorch's ETDump (Inspector): each XNNPACK op, each portable op and each "
                          "delegate call's own time; end to end: its Method::execute event", merged(spans, 1),
                          sum(execute), calls, warmup, False)
