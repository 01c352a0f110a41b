"""A case against the same module elsewhere in its session: its output against eager PyTorch's
(in int8, its quantization error against float32's), and its latency against eager's (its
latency against its own float32 on the same runtime is a plain ratio of the session)."""

from __future__ import annotations

import dataclasses
from typing import Any

from convbench import backends
from convbench.store.ratios import EAGER
from convbench.store.records import Measurement, OutputCheck
from convbench.timing import Session, TimingSettings, check_runs


def check_output(case, output, references: dict[tuple, Any], settings: TimingSettings) -> None:
    """Record how far a runtime's output is from eager's on the same input; beyond the dtype's
    tolerance the case is an error (timing a wrong answer says nothing). An int8 output is held
    against eager float32's instead, as its signal-to-quantization-noise ratio (``quant_sqnr_db``):
    how much int8 costs in accuracy is a measurement, not an error."""
    key = (id(case.built), case.threads, "float32" if settings.dtype == "int8" else settings.dtype)
    if backends.is_default(case.backend):
        references[key] = output
        return
    reference = references.get(key)
    if reference is None:
        eager = dataclasses.replace(settings, backend="eager", dtype=key[2])
        reference = references[key] = check_runs(case.built.module, case.built.inputs, settings=eager)
    if settings.dtype == "int8":
        case.measurement.output = OutputCheck(quant_sqnr_db=backends.sqnr_db(reference, output))
        return
    largest, relative = backends.difference(reference, output)
    case.measurement.output = OutputCheck(backend_max_abs_diff=largest, backend_max_rel_diff=relative)
    tolerance = backends.TOLERANCE.get(settings.dtype, 1e-4)
    if relative > tolerance:
        raise ValueError(f"{case.backend} output differs from eager by {relative:.2g} of the largest output "
                         f"(max abs {largest:.2g}), above the {settings.dtype} tolerance of {tolerance:g}")


def compare_with_eager(measurement: Measurement, session: Session, i: int, eager: int, confidence: float,
                       margin: float) -> None:
    """Row ``i``'s latency against the same module in eager PyTorch, where both were read by the
    same clock; where not (ONNX Runtime on CUDA waits for its stream every call and is read by the
    synchronised wall clock, eager by CUDA events), a note saying so instead of a ratio."""
    mine, theirs = session.timings[i].clock, session.timings[eager].clock
    if mine != theirs:
        measurement.eager_ratio_note = f"not compared with eager: read by the {mine} clock, eager by {theirs}"
    else:
        measurement.ratios[EAGER] = session.ratio(i, eager, confidence, margin)
