"""ExecuTorch with its XNNPACK backend, the CPU kernels its Android and iOS builds run: the module
exported with ``torch.export``, lowered by ``to_edge_transform_and_lower`` with the
``XnnpackPartitioner`` (ops XNNPACK cannot take stay on ExecuTorch's portable kernels, and the row
names them), serialised to a ``.pte`` program and loaded by ExecuTorch's runtime through its Python
bindings. The program leaves its inputs out of its planned memory (``alloc_graph_input=False``),
so the method reads the case's input tensors where they are, set once, and a timed call is one
``Method::execute``, its outputs read where the method leaves them: the span ExecuTorch's own
profiler (ETDump) reports under that name (``benchmarks/executorch_overhead.py`` holds the two
against each other). With planned inputs, ``set_inputs`` copies each input in, and the planner
may reuse that memory for later values: a second ``execute`` on inputs set once read garbage on an
int8 Octave layer. Calling the method as ``executorch.runtime`` does (``method([x])``) copies the
inputs in and clones the outputs on every call.

XNNPACK's thread pool is one per process, and a method holds the pool it was loaded with: it is
resized only while no program of this process is loaded (resizing frees the old pool), so one
process runs ExecuTorch at one thread count at a time. The runner times each thread count in
its own sitting for that reason.

int8: PT2E post-training static quantization with ``XNNPACKQuantizer`` (symmetric, per-channel
int8 weights, per-tensor int8 activations), calibrated on :mod:`convbench.backends.calibration`'s
set, then lowered the same way. Needs the ``executorch`` extra.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import warnings
import weakref

import torch

from convbench.backends.calibration import calibration_set, report
from convbench.backends.errors import BackendCannotTake, BackendUnavailable, CannotProfile, first_line
from convbench.backends.native_stderr import native_stderr_silenced
from convbench.backends.runtime import Runtime, RuntimeFacts

INT8_SCHEME = "XNNPACKQuantizer (PT2E, static): int8 per-channel symmetric weights, int8 per-tensor activations"
STRUCTURAL = ("getitem",)  # a delegate's output unpacking: no computation
_loaded = {"programs": 0}  # programs of this process still alive, which hold the thread pool


def require() -> None:
    if importlib.util.find_spec("executorch") is None:
        raise BackendUnavailable("backend executorch needs the executorch extra: pip install 'convbench[executorch]'")


def version() -> str:
    from executorch.version import __version__

    return f"executorch {__version__.split('+')[0]} (XNNPACK)"


def settings(threads: int) -> dict:
    return {"threads": threads, "thread pool": "XNNPACK's process-wide pthreadpool, resized to the case's count",
            "partitioner": "XnnpackPartitioner",
            "call": "Method::execute on inputs set once, read in place (not planned)"}


@contextlib.contextmanager
def _quiet():
    """ExecuTorch's export and loading print notes (cpuinfo, deprecations) that are not ours."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), native_stderr_silenced():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            logger.setLevel(level)


def _use_threads(threads: int) -> None:
    """XNNPACK's pool at ``threads``; a BackendCannotTake where a loaded program still holds
    a pool of another size."""
    from executorch.extension.pybindings import portable_lib

    current = portable_lib._threadpool_get_thread_count()
    if current == threads:
        return
    if _loaded["programs"]:
        raise BackendCannotTake(f"executorch cannot take it: its thread pool is at {current} threads for a program "
                                f"still loaded in this process; time {threads} threads in another sitting")
    portable_lib._unsafe_reset_threadpool(threads)


def _lower(exported) -> tuple[bytes, dict]:
    """The .pte program of an exported program, and what XNNPACK took of it as row fields."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
    from executorch.exir.passes import MemoryPlanningPass

    edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    info = get_delegation_info(edge.exported_program().graph_module)
    outside = {name: b.non_delegated for name, b in info.delegation_by_operator.items()
               if b.non_delegated and name not in STRUCTURAL}
    fields = {"delegated_ops": info.num_delegated_nodes, "ops_not_delegated": sum(outside.values()),
              "ops_not_delegated_names": ", ".join(f"{name} x{n}" for name, n in sorted(outside.items()))}
    unplanned_inputs = ExecutorchBackendConfig(memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False))
    return edge.to_executorch(unplanned_inputs).buffer, fields


def _export(model, inputs):
    try:
        return torch.export.export(model, tuple(inputs), strict=False)
    except Exception as error:
        raise BackendCannotTake(f"executorch cannot take it: torch.export failed ({type(error).__name__}: "
                                f"{first_line(error)})") from None


def _loaded_call(program_bytes: bytes, inputs, threads: int, fields: dict):
    from executorch.extension.pybindings import portable_lib

    _use_threads(threads)
    kept = [t.detach().contiguous() for t in inputs]  # the method reads them where they are: kept alive
    try:
        program = portable_lib._load_program_from_buffer(program_bytes)
        method = program.load_method("forward")
        method.set_inputs(kept)
    except Exception as error:
        raise BackendCannotTake(f"executorch cannot take it: loading failed ({type(error).__name__}: "
                                f"{first_line(error)})") from None

    def call():
        method.execute()
        return _Outputs(method.get_outputs(clone_outputs=False), (program_bytes, program, method))

    _loaded["programs"] += 1
    weakref.finalize(call, _release)
    call.program, call.method, call.inputs = program, method, kept
    call.input_pointers = lambda: [t.data_ptr() for t in kept]
    call.program_bytes = program_bytes  # the loaded program reads from this buffer, not a copy
    call.report = RuntimeFacts(**fields, runtime_threads=portable_lib._threadpool_get_thread_count())
    call()  # XNNPACK packs its weights on the first call
    return call


def _release() -> None:
    _loaded["programs"] -= 1


class _Outputs(list):
    """A method's outputs, read in place: they live in the method's memory, which this keeps alive
    (with its program and the buffer the program reads)."""

    def __init__(self, tensors, owners):
        super().__init__(tensors)
        self.owners = owners


def prepare(model, inputs, threads, device):
    if device.type != "cpu":
        raise BackendCannotTake(f"executorch cannot take it: XNNPACK runs on the CPU, not {device.type}")
    if any(t.dtype == torch.bfloat16 for t in inputs):
        raise BackendCannotTake("executorch cannot take it: XNNPACK has no bfloat16 convolution")
    with _quiet():
        exported = _export(model, inputs)
        try:
            program, fields = _lower(exported)
        except Exception as error:
            raise BackendCannotTake(f"executorch cannot take it: lowering to XNNPACK failed "
                                    f"({type(error).__name__}: {first_line(error)})") from None
        return _loaded_call(program, inputs, threads, fields)


def prepare_int8(model, inputs, threads, device):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if device.type != "cpu":
        raise BackendCannotTake(f"executorch cannot take it: XNNPACK runs on the CPU, not {device.type}")
    with _quiet():
        graph = _export(model, inputs).module()
        try:
            quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
            observed = prepare_pt2e(graph, quantizer)
            for sample in calibration_set(inputs):
                observed(*sample)
            quantized = torch.export.export(convert_pt2e(observed), tuple(inputs), strict=False)
            program, fields = _lower(quantized)
        except Exception as error:
            raise BackendCannotTake(f"executorch cannot take it in int8: {type(error).__name__}: "
                                    f"{first_line(error)}") from None
        return _loaded_call(program, inputs, threads, {**fields, **report(INT8_SCHEME)})


class ExecuTorchRuntime(Runtime):
    name = "executorch"
    short_name = "executorch"
    quantizes = True
    process_wide_thread_pool = True  # XNNPACK's pthreadpool
    packages = ("executorch",)

    def require(self, precision="float32"):
        require()

    version = staticmethod(version)
    settings = staticmethod(settings)
    prepare_float = staticmethod(prepare)
    prepare_int8 = staticmethod(prepare_int8)

    def profile(self, model, inputs, threads, device, calls=20, warmup=3):
        from convbench.backends import executorch_profiling

        self.require()
        if device.type != "cpu":
            raise CannotProfile(f"executorch runs on the CPU here, not {device.type}")
        with _quiet():
            program, _ = _lower(_export(model, inputs))
            _use_threads(threads)
            return executorch_profiling.profile(program, inputs, calls, warmup)
