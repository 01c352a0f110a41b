"""What a runtime's own profiler says one call of a module spends, op by op: the record every
runtime's reader (:mod:`convbench.backends.torch_profiling` and the others) returns.

A span is an op as the runtime names it (``aten::cat``, ONNX Runtime's ``Conv``, OpenVINO's
``GroupConvolution``, XNNPACK's ``Convolution (NHWC, F32) DWConv``), with the module it ran in
where the runtime can say, and its time per call: the mean over the profiled calls. What the
spans leave of the profiled end-to-end time is the part no op accounts for (the runtime's
dispatch, Python between ops, the profiler's own work)."""

from __future__ import annotations

from dataclasses import dataclass

# A span's kind: what its time is spent on.
MULTIPLY = "multiply"  # convolutions and matrix products: the ops that do MACs
OTHER = "other"  # element-wise, data movement, layout changes: no MACs
RUNTIME = "runtime"  # the runtime's own work between ops (a cache lookup, a wrapper)


@dataclass(frozen=True)
class OpSpan:
    """One op of a profiled call: ``seconds`` per model call (the mean over the profiled calls, all
    its calls within one model call together), ``calls`` how many times one model call runs it.
    ``module`` is the dotted module name it ran in (``""`` the model itself), None where the
    runtime cannot say; ``aten_ops`` the ATen ops (dispatch names, ``aten.convolution``) it ran,
    where the runtime runs ATen ops; ``kind`` one of :data:`MULTIPLY`, :data:`OTHER`,
    :data:`RUNTIME`."""

    op: str
    kind: str
    seconds: float
    calls: int = 1
    module: str | None = None
    aten_ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuntimeProfile:
    """The spans of a profiled call and its end-to-end time as the same profiler read it (the mean
    over ``calls`` profiled calls, after ``warmup`` profiled calls not used); ``source`` says which
    profiler, and what it reads as an op and as the whole call."""

    runtime: str
    source: str
    spans: tuple[OpSpan, ...]
    end_to_end_s: float
    calls: int
    warmup: int
    maps_modules: bool  # the spans name the modules they ran in

    @property
    def accounted_s(self) -> float:
        return sum(span.seconds for span in self.spans)


def merged(spans: list[OpSpan], calls: int) -> tuple[OpSpan, ...]:
    """Spans of ``calls`` model calls as spans of one: those of one op in one module together, in
    the order they first ran, their time and count divided by ``calls``."""
    found: dict[tuple, list] = {}
    for span in spans:
        key = (span.op, span.module, span.kind)
        entry = found.setdefault(key, [0.0, 0, set(), span])
        entry[0] += span.seconds
        entry[1] += span.calls
        entry[2].update(span.aten_ops)
    return tuple(OpSpan(first.op, first.kind, seconds / calls, max(round(n / calls), 1), first.module,
                        tuple(sorted(aten))) for seconds, n, aten, first in found.values())
