"""Running a suite: each case built, counted, timed against its shape's baseline, and turned into a row.

A variant that cannot take a shape (a ``ValueError`` from its builder) gives a ``skipped`` row with
the reason; anything else that fails gives an ``error`` row; the run goes on either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from torch import nn

import convbench
from convbench.config import ModelWorkload, Shape, Suite, VariantRequest, resolve_device
from convbench.roofline import cached_peaks, roofline_fields
from convbench.swap import conv_filter, swap_report


@dataclass
class Built:
    module: nn.Module
    inputs: tuple[torch.Tensor, ...]
    cost: convbench.Cost
    timing: convbench.Timing | None = None


Workload = Shape | ModelWorkload


def build_case(workload: Workload, request: VariantRequest) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """The variant for a layer shape (or a network with its convs swapped for the variant) and its
    inputs; a ValueError when it cannot take the shape."""
    if isinstance(workload, ModelWorkload):
        module, inputs = _build_network(workload, request)
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
    model = convbench.build_model(workload.name)
    if request.name != "conv" or request.params:
        where = conv_filter(**dict(workload.where)) if workload.where else None
        swapped, replaced, _ = swap_report(model, request.name, where, skip_unfit=True, **request.kwargs)
        if not replaced:
            raise ValueError(f"{request.name} can replace none of the selected convs of {workload.name}")
        model = swapped
    generator = torch.Generator().manual_seed(0)
    return model, (torch.randn(workload.batch, 3, workload.size, workload.size, generator=generator),)


def base_row(suite: Suite, workload: Workload, device: str, request: VariantRequest) -> dict[str, Any]:
    is_model = isinstance(workload, ModelWorkload)
    return {
        "config": suite.name, "shape": workload.label, "variant": request.name, "label": request.label,
        "batch": workload.batch, "in_channels": 3 if is_model else workload.in_channels,
        "out_channels": None if is_model else workload.out_channels,
        "kernel_size": None if is_model else workload.kernel_size,
        "stride": None if is_model else workload.stride,
        "height": workload.size if is_model else workload.height,
        "width": workload.size if is_model else workload.width, "device": device, "dtype": suite.dtype,
        "memory_format": suite.memory_format,
        "mode": "training" if suite.timing["training"] else "inference",
        "status": "ok", "error": "",
    }


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


def timing_fields(timing: convbench.Timing) -> dict[str, Any]:
    return {"latency_ms": timing.median_ms, "latency_iqr_ms": timing.iqr_ms, "runs": timing.runs,
            "noisy": timing.noisy, "timing_method": timing.method, "threads": timing.threads,
            "peak_memory_bytes": timing.peak_memory_bytes}


def _timing_options(suite: Suite, device: str) -> dict[str, Any]:
    t = suite.timing
    return dict(device=device, dtype=suite.dtype, memory_format=suite.memory_format,
                training=t["training"], threads=t["threads"], warmup_time=t["warmup_time"],
                cold=t["cold"] and device.startswith("cuda"))


def run_suite(suite: Suite, measure_time: bool = True,
              on_case: Callable[[int, int, str], None] | None = None) -> Iterator[tuple[dict, dict]]:
    """Yield ``(row, raw)`` for every case, in order; ``raw`` holds the raw timings for JSON."""
    cases = suite.cases()
    baselines: dict[tuple[Workload, str], Built | None] = {}
    peaks = {device: cached_peaks(resolve_device(device), suite.dtype, suite.timing["threads"])
             for device in suite.devices} if measure_time else {}
    for index, (workload, device_name, request) in enumerate(cases):
        if on_case:
            on_case(index, len(cases), f"{request.label} on {workload.label} ({device_name})")
        device = resolve_device(device_name)
        row = base_row(suite, workload, device, request)
        raw: dict[str, Any] = {}
        is_baseline = request == suite.baseline
        try:
            try:
                module, inputs = build_case(workload, request)
            except ValueError as error:
                row.update(status="skipped", error=str(error))
                if is_baseline:
                    baselines[(workload, device)] = None
                yield row, raw
                continue
            if device.startswith("cuda") and not torch.cuda.is_available():
                raise RuntimeError("device cuda requested but torch.cuda.is_available() is False")
            cost = convbench.count(module, *inputs)
            row.update(cost_fields(request, workload, cost))
            built = Built(module, inputs, cost)
            baseline = built if is_baseline else baselines.get((workload, device))
            if baseline is not None:
                row["params_vs_baseline"] = cost.params / baseline.cost.params if baseline.cost.params else None
                row["macs_vs_baseline"] = cost.macs / baseline.cost.macs if baseline.cost.macs else None
            if measure_time:
                raw = _time_case(suite, device, built, baseline, is_baseline, row)
                row.update(roofline_fields(cost.macs, cost.bytes_moved, workload.batch, row.get("latency_ms"),
                                           peaks[device_name]))
            if is_baseline:
                baselines[(workload, device)] = built
        except Exception as error:  # a failed case is a row, not the end of the run
            row.update(status="error", error=f"{type(error).__name__}: {error}")
            if is_baseline:
                baselines[(workload, device)] = None
        yield row, raw


def _time_case(suite: Suite, device: str, built: Built, baseline: Built | None, is_baseline: bool,
               row: dict[str, Any]) -> dict[str, Any]:
    t = suite.timing
    options = _timing_options(suite, device)
    if is_baseline or baseline is None:
        built.timing = convbench.benchmark(built.module, *built.inputs, min_time=t["min_time"],
                                           max_time=max(2.0, 5 * t["min_time"]), **options)
        row.update(timing_fields(built.timing))
        if is_baseline:
            row.update(latency_vs_baseline=1.0, params_vs_baseline=1.0, macs_vs_baseline=1.0)
        return {"timing_ms": built.timing.times_ms}
    result = convbench.compare(built.module, built.inputs, baseline.module, baseline.inputs,
                               rounds=t["rounds"], round_time=t["min_time"] / t["rounds"], **options)
    built.timing = result.variant
    row.update(timing_fields(result.variant))
    row.update(latency_vs_baseline=result.ratio, latency_ratio_low=result.ratio_low,
               latency_ratio_high=result.ratio_high, p_value=result.p_value,
               significant=result.significant)
    return {"timing_ms": result.variant.times_ms, "baseline_timing_ms": result.baseline.times_ms,
            "round_ratios": result.round_ratios}
