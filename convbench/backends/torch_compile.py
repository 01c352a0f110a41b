"""``torch.compile`` (TorchInductor): the module compiled once, before timing, in one of
:data:`MODES` (``compile`` is ``compile:default``; ``compile:max-autotune`` etc. name the others).

A compiled module can quietly run eager code: a graph break splits it into several graphs with
Python between them, and a module that gives dynamo no graph at all (every op breaks it, or the
code object has reached dynamo's recompile limit: the 9th conv shape compiled in one process with
the default limit of 8) runs eagerly under the ``compile`` label. So the first calls are made under
observation and :func:`prepare` reports what it saw (dynamo's graphs, graph breaks, eager frames
and recompiles); a module that ran no compiled code raises :class:`NotCompiled`, which makes its
row an error naming why. What ran is observed, not inferred from counters (a module compiled
before in the same process reuses its graphs and adds to no counter): one call is profiled for
its compiled-graph calls. Compilation raises the recompile limit while it runs, so every case of a
suite gets its own graph.

Inductor writes and builds C++ on the CPU, so it needs a C++ compiler (``$CXX`` or ``c++``).
"""

from __future__ import annotations

import copy
import os
import shutil

import torch

from convbench.backends.errors import BackendCannotTake, BackendUnavailable, CannotProfile, first_line
from convbench.backends.native_stderr import native_stderr_silenced
from convbench.backends.runtime import Runtime, RuntimeFacts

MODES = ("default", "max-autotune", "max-autotune-no-cudagraphs", "reduce-overhead")
RECOMPILE_LIMIT = 4096


class NotCompiled(RuntimeError):
    """torch.compile ran none of the module as compiled code."""


def require() -> None:
    compiler = os.environ.get("CXX", "c++")
    if not shutil.which(compiler):
        raise BackendUnavailable(f"backend compile needs a C++ compiler ({compiler} is not on PATH): "
                                 "install one (e.g. g++), or set CXX")


def version() -> str:
    return f"torch.compile (inductor) {torch.__version__}"


def settings(threads: int, mode: str = "default") -> dict:
    return {"mode": mode, "dynamic": False, "threads": threads,
            "checked": ("compiled graphs, graph breaks and eager frames of one profiled call; "
                        "recompiles over two more calls")}


def prepare(model, inputs, threads, device, mode: str = "default"):
    if mode not in MODES:
        raise ValueError(f"compile mode {mode!r} must be one of {', '.join(MODES)}")
    if mode == "reduce-overhead" and device.type != "cuda":
        raise BackendCannotTake("compile cannot take it: mode reduce-overhead records CUDA graphs; "
                                f"it needs a CUDA device, not {device.type}")
    torch.set_num_threads(threads)
    compiled = torch.compile(model, dynamic=False, mode=None if mode == "default" else mode)
    with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT, accumulated_recompile_limit=RECOMPILE_LIMIT), \
            torch.inference_mode():  # the grad mode timings run under, so their first call does not recompile
        from torch._dynamo.utils import counters

        known_breaks = set(counters["graph_break"])
        try:
            compiled(*inputs)
        except Exception as error:  # a failure to compile is this module's, not the run's
            raise BackendCannotTake(f"compile cannot take it: {type(error).__name__}: "
                                    f"{first_line(error)}") from None
        report = _report(compiled, inputs, known_breaks)
    if report["dynamo_graphs"] == 0:
        raise NotCompiled(f"compile ran no compiled code: {report.pop('why')}")
    report.pop("why")

    def call():
        return compiled(*inputs)

    call.report = RuntimeFacts(**report)
    call.inputs = inputs
    call.input_pointers = lambda: [t.data_ptr() for t in inputs]
    return call


def _report(compiled, inputs, known_breaks: set) -> dict:
    """What one call of the compiled module runs, seen by the profiler: the compiled graphs it
    calls, the frames dynamo entered (one more than the graph breaks on the path the call took),
    and those of them that ran no graph (eager); then the graphs two more calls compile (recompiles)."""
    from torch._dynamo.utils import counters
    from torch.profiler import ProfilerActivity, profile

    with native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU]) as trace:
        compiled(*inputs)
    names = [event.name for event in trace.events()]
    graphs = sum(name.startswith("## Call CompiledFxGraph") for name in names)
    frames = sum(name.startswith("Torch-Compiled Region") for name in names)
    before = counters["stats"]["unique_graphs"]
    compiled(*inputs)
    compiled(*inputs)
    recompiles = counters["stats"]["unique_graphs"] - before
    reasons = sorted(set(counters["graph_break"]) - known_breaks)
    why = (f"dynamo broke the graph on every op ({first_line(reasons[0], 'no reason given')})" if reasons else
           "dynamo captured no graph (a forward it skips, one with no tensor ops, or its recompile limit reached)")
    return {"dynamo_graphs": graphs, "dynamo_graph_breaks": max(frames - 1, 0),
            "dynamo_eager_frames": max(frames - graphs, 0), "dynamo_recompiles": recompiles, "why": why}


class CompileRuntime(Runtime):
    name = "compile"
    short_name = "compile"
    options = MODES
    default_option = "default"
    torch_allocates = True

    def require(self, precision="float32"):
        require()

    def version(self):
        return version() + (f", mode {self.option}" if self.option else "")

    def settings(self, threads):
        return settings(threads, self.option or "default")

    def prepare_float(self, model, inputs, threads, device):
        return prepare(model, inputs, threads, device, self.option or "default")

    def profile(self, model, inputs, threads, device, calls=20, warmup=3):
        from convbench.backends.torch_profiling import kernel_ranges, profile_compiled

        self.require()
        if device.type != "cpu":
            raise CannotProfile(f"compile per-op profiling reads host time, which on {device.type} is launch time, "
                                "not kernel time: it runs on the CPU only")
        # A copy is a new module to dynamo: compiled afresh, each kernel in a profiler range.
        with kernel_ranges(), native_stderr_silenced():
            call = prepare(copy.deepcopy(model), inputs, threads, device, self.option or "default")
        return profile_compiled(call, calls, warmup)
