"""Per-op times of eager PyTorch and of ``torch.compile``, read with ``torch.profiler`` (its CPU
activity: the time each op's call takes on the host, which on the CPU is the op's time).

Eager: each module's forward is a profiler range (hooks push and pop it), so every op is
attributed to the innermost module that ran it; a span is an outermost op (``aten::conv2d`` with
the ``aten::convolution`` and ``mkldnn_convolution`` below it), its time the op's whole time, and
each module's own time outside its ops (its forward's Python and the hooks) is a span of kind
``runtime`` named :data:`PYTHON`.
torch.compile: a span is what a compiled graph runs (its C++ kernels, profiled through
inductor's ``cpp.enable_kernel_profile``, and the ATen ops it calls out to) and the wrapper work
around it (dynamo's cache lookup, the compiled graph's Python between its kernels), the latter of
kind ``runtime``; compiled code has no module boundaries.
Either way the end-to-end time is the profiler's range around each model call."""

from __future__ import annotations

import contextlib

import torch
from torch.profiler import ProfilerActivity, profile

from convbench.backends.errors import CannotProfile
from convbench.backends.native_stderr import native_stderr_silenced
from convbench.backends.profiled import MULTIPLY, OTHER, RUNTIME, OpSpan, RuntimeProfile, merged

CALL = "convbench: call"
PYTHON = "Python in forward"  # a module's own time outside its ops: its forward's Python, its hooks
MODULE = "convbench: module "
# Names of ATen ops that multiply weights with inputs (a span running one is a MULTIPLY span, until
# the join says from the counted ops whether it did MACs).
MULTIPLYING = ("conv", "mm", "matmul", "linear", "einsum", "lstm", "gru", "rnn_", "attention")
# Ranges around compiled code, not ops: what they hold is read as spans, and their own time (the
# Python between the ops they hold) as a span of kind runtime, named here.
COMPILED_CONTAINERS = {"Torch-Compiled Region": "dynamo's frame, outside its graph",
                       "## Call CompiledFxGraph": "compiled graph's Python wrapper, between its kernels",
                       "CompiledFunction": "AOTAutograd's function, outside its graph"}


def _kind(names) -> str:
    return MULTIPLY if any(word in name for name in names for word in MULTIPLYING) else OTHER


def _subtree(event) -> list[str]:
    names, stack = [], [event]
    while stack:
        current = stack.pop()
        names.append(current.name)
        stack.extend(current.cpu_children)
    return names


def _aten(names) -> tuple[str, ...]:
    return tuple(sorted({name.replace("::", ".") for name in names if name.startswith("aten::")}))


@contextlib.contextmanager
def module_ranges(model: torch.nn.Module):
    """Every module's forward as a profiler range named ``MODULE + its dotted name``."""
    handles, open_ranges = [], []

    def entering(module, args, name):
        # record_function costs about 20 us a range here: time no op would account for
        ranged = torch._C._profiler._RecordFunctionFast(MODULE + name)
        ranged.__enter__()
        open_ranges.append(ranged)

    def leaving(module, args, output):
        open_ranges.pop().__exit__(None, None, None)

    for name, sub in model.named_modules():
        if isinstance(sub, torch.jit.ScriptModule):
            continue
        handles.append(sub.register_forward_pre_hook(lambda m, a, name=name: entering(m, a, name)))
        handles.append(sub.register_forward_hook(leaving, always_call=True))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _profiled_calls(call, calls: int, warmup: int):
    """The profiler's events of ``warmup + calls`` calls, and the ranges of the last ``calls``."""
    with torch.inference_mode(), native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU]) as trace:
        for _ in range(warmup + calls):
            with torch._C._profiler._RecordFunctionFast(CALL):
                call()
    events = trace.events()
    ranges = sorted((e for e in events if e.name == CALL), key=lambda e: e.time_range.start)
    return ranges[warmup:]


def _eager_spans(event, module: str) -> list[OpSpan]:
    spans = []
    for child in event.cpu_children:
        if child.name.startswith(MODULE):
            name = child.name[len(MODULE):]
            spans.append(OpSpan(PYTHON, RUNTIME, child.self_cpu_time_total / 1e6, 1, name))
            spans.extend(_eager_spans(child, name))
        else:
            names = _subtree(child)
            spans.append(OpSpan(child.name, _kind(names), child.cpu_time_total / 1e6, 1, module, _aten(names)))
    return spans


def profile_eager(model, inputs, threads: int, device: torch.device, calls: int, warmup: int) -> RuntimeProfile:
    if device.type != "cpu":
        raise CannotProfile(f"eager per-op profiling reads host time, which on {device.type} is launch time, "
                            "not kernel time: it runs on the CPU only")
    torch.set_num_threads(threads)
    with module_ranges(model):
        ranges = _profiled_calls(lambda: model(*inputs), calls, warmup)
    spans = [span for event in ranges for span in _eager_spans(event, "")]
    return RuntimeProfile("eager", "torch.profiler (CPU activity): each outermost ATen op's time, in the innermost "
                          "module's range; end to end: a range around each call", merged(spans, calls),
                          sum(e.cpu_time_total for e in ranges) / 1e6 / calls, calls, warmup, True)


def _compiled_spans(event) -> list[OpSpan]:
    spans = []
    for child in event.cpu_children:
        if child.name.startswith(tuple(COMPILED_CONTAINERS)):
            own = next(label for prefix, label in COMPILED_CONTAINERS.items() if child.name.startswith(prefix))
            spans.append(OpSpan(own, RUNTIME, child.self_cpu_time_total / 1e6))
            spans.extend(_compiled_spans(child))
            continue
        names = _subtree(child)
        if child.name.startswith("aten::"):
            kind = _kind(names)
        elif "cpp_fused" in child.name or "triton_" in child.name or child.name.startswith("graph_"):
            kind = OTHER  # inductor's own kernels: convolutions and GEMMs it calls out to, as ATen ops
        else:
            kind = RUNTIME
        spans.append(OpSpan(child.name, kind, child.cpu_time_total / 1e6, 1, None, _aten(names)))
    return spans


def kernel_ranges():
    """Inductor's setting that wraps each C++ kernel it compiles in a profiler range."""
    return torch._inductor.config.patch({"cpp.enable_kernel_profile": True})


def profile_compiled(call, calls: int, warmup: int) -> RuntimeProfile:
    """The profile of a compiled module's call, compiled under :func:`kernel_ranges`."""
    ranges = _profiled_calls(call, calls, warmup)
    spans = [span for event in ranges for span in _compiled_spans(event)]
    return RuntimeProfile("compile", "torch.profiler (CPU activity): each C++ kernel of the compiled graphs "
                          "(inductor's cpp.enable_kernel_profile), each ATen op they call and dynamo's wrapper "
                          "work; end to end: a range around each call", merged(spans, calls),
                          sum(e.cpu_time_total for e in ranges) / 1e6 / calls, calls, warmup, False)
