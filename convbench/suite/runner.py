"""Running a suite: each case built, counted, timed against its shape's baseline, and turned into a row.

A variant that cannot take a shape (a ``ValueError`` from its builder) gives a ``skipped`` row with
the reason; anything else that fails gives an ``error`` row; the run goes on either way. The cases
of one shape on one device are timed together, interleaved with their baseline.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from torch import nn

import convbench
from convbench import backends
from convbench.config import ModelWorkload, Shape, Suite, VariantRequest, resolve_device
from convbench.contention import ContendedError, Contention
from convbench.roofline import cached_peaks, roofline_fields
from convbench.swap import conv_filter, swap_report
from convbench.sharding import case_id, session_key
from convbench.timing import Session, check_runs, time_session


@dataclass
class Built:
    module: nn.Module
    inputs: tuple[torch.Tensor, ...]
    cost: convbench.Cost


Workload = Shape | ModelWorkload


def build_case(workload: Workload, request: VariantRequest,
               swaps: dict[str, Any] | None = None) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """The variant for a layer shape (or a network with its convs swapped for the variant) and its
    inputs; a ValueError when it cannot take the shape. For a network, ``swaps`` receives how many
    convs were replaced and which were kept, and why."""
    if isinstance(workload, ModelWorkload):
        module, inputs, replaced, kept = _build_network(workload, request)
        if swaps is not None:
            swaps.update(convs_replaced=len(replaced), convs_kept=len(kept),
                         convs_kept_why="; ".join(f"{name}: {why}" for name, why in kept.items()))
    else:
        module = convbench.build(request.name, workload.in_channels, workload.out_channels,
                                 workload.kernel_size, workload.stride, **request.kwargs)
        inputs = convbench.example_inputs(request.name, workload.batch, workload.in_channels,
                                          workload.height, workload.width, stride=workload.stride,
                                          **request.kwargs)
    with torch.no_grad():
        module.eval()(*inputs)  # shape errors surface here, before any counting or timing
    return module, inputs


def _build_network(workload: ModelWorkload, request: VariantRequest):
    """The network with its convs swapped for the variant, its inputs, the names of the convs
    replaced, and those left as they were with why."""
    from convbench.models.user import build_user_model, is_user_model

    if request.name == "octave" and workload.name == "resnet50":
        return _octave_resnet50(workload, request)
    if is_user_model(workload.name):
        model = build_user_model(workload.name, workload.kwargs)
    else:
        model = convbench.build_model(workload.name, **workload.kwargs)
    replaced, kept = [], {}
    if request.name != "conv" or request.params:
        where = conv_filter(**dict(workload.where)) if workload.where else None
        model, replaced, kept = swap_report(model, request.name, where, skip_unfit=workload.skip_unfit,
                                            **request.kwargs)
        if not replaced:
            raise ValueError(f"{request.name} can replace none of the selected convs of {workload.name}")
    return model, _network_inputs(workload), replaced, kept


def _octave_resnet50(workload: ModelWorkload, request: VariantRequest):
    """Octave in ResNet-50 is the paper's Octave ResNet-50 (its wiring, not a conv-by-conv swap),
    with alpha_in = alpha_out."""
    from convbench.models.octave_resnet import oct_resnet50

    params = request.kwargs
    alpha = params.get("alpha_in", params.get("alpha_out", 0.5))
    if params.get("alpha_out", alpha) != alpha:
        raise ValueError("octave in resnet50 is oct_resnet50, which takes one alpha: give alpha_in = alpha_out")
    model = oct_resnet50(alpha, **workload.kwargs)
    octave = [name for name, m in model.named_modules() if type(m).__name__ == "OctaveConv2d"]
    return model, _network_inputs(workload), octave, {}


def _network_inputs(workload: ModelWorkload) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    return tuple(torch.randn(workload.batch, *shape, generator=generator) for shape in workload.input_shapes)


def base_row(suite: Suite, workload: Workload, device: str, request: VariantRequest) -> dict[str, Any]:
    is_model = isinstance(workload, ModelWorkload)
    return {
        "case_id": case_id(suite, workload, device, request), "session": session_key(suite, workload, device),
        "config": suite.name, "shape": workload.label, "variant": request.name, "label": request.label,
        "batch": workload.batch,
        "in_channels": workload.input_shapes[0][0] if is_model else workload.in_channels,
        "out_channels": None if is_model else workload.out_channels,
        "kernel_size": None if is_model else workload.kernel_size,
        "stride": None if is_model else workload.stride,
        "height": _spatial(workload.input_shapes[0], -2) if is_model else workload.height,
        "width": _spatial(workload.input_shapes[0], -1) if is_model else workload.width,
        "device": device, "backend": "eager", "dtype": suite.dtype,
        "memory_format": suite.memory_format,
        "mode": "training" if suite.timing["training"] else "inference",
        "status": "ok", "error": "",
    }


def _spatial(shape: tuple[int, ...], axis: int) -> int | None:
    return shape[axis] if len(shape) >= 3 else None


def cost_fields(request: VariantRequest, workload: Workload, cost: convbench.Cost) -> dict[str, Any]:
    formula = None if isinstance(workload, ModelWorkload) else convbench.get_variant(request.name).cost(
        workload.in_channels, workload.out_channels, workload.kernel_size, workload.stride,
        workload.height, workload.width, **request.kwargs)
    if formula is None:
        params_formula = macs_formula = None
        formula_check = "no formula" if not isinstance(workload, ModelWorkload) else "ok"
    else:
        params_formula, macs_formula = formula.params, formula.macs
        mismatches = [f"{what}: counted {counted:,} vs formula {expected:,}"
                      for what, counted, expected in (("params", cost.params, formula.params),
                                                      ("macs", cost.macs, formula.macs),
                                                      ("fixed weights", cost.fixed_weights, formula.fixed_weights))
                      if counted != expected]
        formula_check = "; ".join(mismatches) or "ok"
    return {
        "params": cost.params, "fixed_weights": cost.fixed_weights, "macs": cost.macs,
        "flops": cost.flops, "kmac_per_pixel": cost.kmac_per_pixel, "elem_ops": cost.elem_ops,
        "activation_bytes": cost.activation_bytes, "bytes_moved": cost.bytes_moved,
        "arithmetic_intensity": cost.arithmetic_intensity, "params_formula": params_formula,
        "macs_formula": macs_formula, "formula_check": formula_check,
        "macs_ptflops": cost.macs_ptflops, "macs_ptflops_aten": cost.macs_ptflops_aten,
        "params_torchsummary": cost.params_torchsummary, "count_check": cost.check,
    }


def _timing_options(suite: Suite, device: str) -> dict[str, Any]:
    t = suite.timing
    return dict(device=device, dtype=suite.dtype, memory_format=suite.memory_format,
                training=t["training"], threads=t["threads"], warmup_time=t["warmup_time"],
                cold=t["cold"] and device.startswith("cuda"), processes=t["processes"])


@dataclass
class _Case:
    """One case of a workload on a device: its row, raw timings, and module once built."""

    row: dict[str, Any]
    raw: dict[str, Any]
    built: Built | None
    is_baseline: bool
    backend: str = "eager"
    request: VariantRequest | None = None


def run_suite(suite: Suite, measure_time: bool = True,
              on_case: Callable[[int, int, str], None] | None = None,
              keep: Callable[[str], bool] | None = None) -> Iterator[tuple[dict, dict]]:
    """Yield ``(row, raw)`` for every case, in order; ``raw`` holds the raw timings for JSON.

    The cases of one shape (or network) on one device are built and counted, then timed together
    in one interleaved session with their baseline, so the baseline's latency and every ratio come
    from the same rounds. With ``timing.on_contention: fail`` a contended session raises
    :class:`ContendedError` after its rows are yielded. ``keep`` picks sessions by their key (see
    :mod:`convbench.sharding`): a shard's share, or those a resumed run still lacks.
    """
    cases = [case for case in suite.cases() if keep is None or keep(session_key(suite, case[0], case[1]))]
    total = len(cases) * len(suite.backends)
    peaks = {device: cached_peaks(resolve_device(device), suite.dtype, suite.timing["threads"])
             for device in suite.devices} if measure_time else {}
    done = 0
    for (workload, device_name), group in itertools.groupby(cases, key=lambda c: (c[0], c[1])):
        device = resolve_device(device_name)
        prepared = []
        for _, _, request in group:
            if on_case:
                on_case(done, total, f"{request.label} on {workload.label} ({device_name}): counting")
            counted = _prepare(suite, workload, device, request)
            prepared += [_on_backend(suite, workload, device, counted, backend) for backend in suite.backends]
            done += len(suite.backends)
        for backend in suite.backends:
            on_backend = [c for c in prepared if c.backend == backend]
            baseline = next((c.built for c in on_backend if c.is_baseline), None)
            for case in on_backend:
                if baseline is not None and case.built is not None:
                    cost, base = case.built.cost, baseline.cost
                    case.row["params_vs_baseline"] = cost.params / base.params if base.params else None
                    case.row["macs_vs_baseline"] = cost.macs / base.macs if base.macs else None
        contended = None
        if measure_time:
            def on_round(r: int, rounds: int) -> None:
                if on_case:
                    on_case(done, total, f"timing {workload.label} ({device_name}): round {r}/{rounds}")
            contended = _time_group(suite, device, workload, prepared, peaks[device_name], on_round)
        for case in prepared:
            yield case.row, case.raw
        if contended:
            raise ContendedError(contended)


def _on_backend(suite: Suite, workload: Workload, device: str, counted: _Case, backend: str) -> _Case:
    """The counted case as measured on ``backend``: the same module and counts, its own row."""
    row = {**counted.row, "backend": backend,
           "case_id": case_id(suite, workload, device, counted.request, backend)}
    return _Case(row, {}, counted.built, counted.is_baseline, backend, counted.request)


def _prepare(suite: Suite, workload: Workload, device: str, request: VariantRequest) -> _Case:
    row = base_row(suite, workload, device, request)
    case = _Case(row, {}, None, request == suite.baseline, request=request)
    try:
        try:
            module, inputs = build_case(workload, request, swaps := {})
            row.update(swaps)
        except ValueError as error:
            row.update(status="skipped", error=str(error))
            return case
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("device cuda requested but torch.cuda.is_available() is False")
        cost = convbench.count(module, *inputs)
        row.update(cost_fields(request, workload, cost))
        case.built = Built(module, inputs, cost)
    except Exception as error:  # a failed case is a row, not the end of the run
        row.update(status="error", error=f"{type(error).__name__}: {error}")
    return case


def _time_group(suite: Suite, device: str, workload: Workload, prepared: list[_Case], peaks: dict | None,
                on_round: Callable[[int, int], None]) -> str | None:
    """Time every built case of one workload together; fill their rows. Returns a message when
    the session was contended and ``on_contention`` is ``fail``."""
    t = suite.timing
    options = _timing_options(suite, device)
    references: dict[int, Any] = {}  # eager outputs, by module
    for case in prepared:
        if case.built is None:
            continue
        try:
            output = check_runs(case.built.module, case.built.inputs, **options, backend=case.backend)
            if not t["training"]:
                _check_output(case, output, references, options, suite.dtype)
        except backends.BackendCannotTake as error:  # e.g. an op the runtime lacks: a skipped row
            case.row.update(status="skipped", error=str(error))
            case.built = None
        except Exception as error:  # this case cannot be timed with these settings; the others can
            case.row.update(status="error", error=f"{type(error).__name__}: {error}")
            case.built = None
    timed = [c for c in prepared if c.built is not None]
    if not timed:
        return None
    bases = {c.backend: i for i, c in enumerate(timed) if c.is_baseline}
    eager = {id(c.built): i for i, c in enumerate(timed) if c.backend == "eager"}
    threshold = t["contention_threshold"]
    attempts = 0
    while True:
        attempts += 1
        try:
            session = time_session([(c.built.module, c.built.inputs, c.backend) for c in timed], rounds=t["rounds"],
                                   round_time=t["min_time"] / t["rounds"], on_round=on_round, **options)
        except Exception as error:  # e.g. out of memory: every case of the session gets the error
            for c in timed:
                c.row.update(status="error", error=f"{type(error).__name__}: {error}")
            return None
        contentions = [session.contention_of(*{i, bases.get(c.backend, i)}) for i, c in enumerate(timed)]
        worst = max(contentions, key=lambda c: c.cores)
        if not worst.contended(threshold) or t["on_contention"] != "retry" or attempts > t["retries"]:
            break
        time.sleep(RETRY_PAUSE_S)
    for i, case in enumerate(timed):
        _fill_timing(case, session, i, bases.get(case.backend), contentions[i], threshold, attempts, suite)
        if case.backend != "eager" and id(case.built) in eager:
            estimate = session.ratio(i, eager[id(case.built)], t["confidence"], t["margin"])
            case.row.update(latency_vs_eager=estimate.ratio, eager_ratio_low=estimate.low,
                            eager_ratio_high=estimate.high)
        case.row.update(roofline_fields(case.built.cost.macs, case.built.cost.bytes_moved, workload.batch,
                                        case.row["latency_ms"], peaks))
    if t["on_contention"] == "fail" and worst.contended(threshold):
        return (f"{workload.label} ({device}) was timed under contention: {worst.describe()}, above the "
                f"threshold of {threshold:g} cores; rerun on a quiet machine (or set timing.on_contention: mark)")
    return None


RETRY_PAUSE_S = 1.0


def _check_output(case: _Case, output, references: dict[int, Any], options: dict[str, Any], dtype: str) -> None:
    """Record how far a runtime's output is from eager's on the same input; beyond the dtype's
    tolerance the case is an error (timing a wrong answer says nothing)."""
    if case.backend == "eager":
        references[id(case.built)] = output
        return
    reference = references.get(id(case.built))
    if reference is None:
        reference = references[id(case.built)] = check_runs(case.built.module, case.built.inputs, **options)
    largest, relative = backends.difference(reference, output)
    case.row.update(backend_max_abs_diff=largest, backend_max_rel_diff=relative)
    tolerance = backends.TOLERANCE.get(dtype, 1e-4)
    if relative > tolerance:
        raise ValueError(f"{case.backend} output differs from eager by {relative:.2g} of the largest output "
                         f"(max abs {largest:.2g}), above the {dtype} tolerance of {tolerance:g}")


def _fill_timing(case: _Case, session: Session, i: int, base: int | None, contention: Contention,
                 threshold: float, attempts: int, suite: Suite) -> None:
    timing = session.timings[i]
    case.row.update(
        latency_ms=session.latency_ms(i), latency_iqr_ms=timing.iqr_ms, runs=timing.runs,
        rounds=len(session.round_ms[i]), processes=timing.processes, noisy=timing.noisy,
        timing_method=timing.method, threads=timing.threads, peak_memory_bytes=timing.peak_memory_bytes,
        contention=contention.cores, contended=contention.contended(threshold), cpu_steal=contention.steal,
        load_avg=contention.load_avg, gpu_other_processes=contention.gpu_other_processes,
        timing_attempts=attempts,
    )
    case.raw = {"round_ms": session.round_ms[i], "round_process": session.round_process,
                "timing_ms": timing.times_ms,
                "round_contention": [c.cores for c in session.contention[i]]}
    if base is None:
        return
    if i == base:
        case.row.update(latency_vs_baseline=1.0, params_vs_baseline=1.0, macs_vs_baseline=1.0)
        return
    estimate = session.ratio(i, base, suite.timing["confidence"], suite.timing["margin"])
    case.row.update(latency_vs_baseline=estimate.ratio, latency_ratio_low=estimate.low,
                    latency_ratio_high=estimate.high, p_value=estimate.p_value,
                    significant=estimate.significant, verdict=estimate.verdict,
                    confidence=estimate.confidence, margin=estimate.margin)
    case.raw["round_ratios"] = [v / b for v, b in zip(session.round_ms[i], session.round_ms[base])]
