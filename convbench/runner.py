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
from convbench.config import Shape, Suite, VariantRequest, resolve_device
from convbench.roofline import cached_peaks, roofline_fields


@dataclass
class Built:
    module: nn.Module
    inputs: tuple[torch.Tensor, ...]
    cost: convbench.Cost
    timing: convbench.Timing | None = None


def build_case(shape: Shape, request: VariantRequest) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """The variant for ``shape`` and its inputs; a ValueError when it cannot take the shape."""
    module = convbench.build(request.name, shape.in_channels, shape.out_channels, shape.kernel_size,
                             shape.stride, **request.kwargs)
    inputs = convbench.example_inputs(request.name, shape.batch, shape.in_channels, shape.height,
                                      shape.width, stride=shape.stride, **request.kwargs)
    with torch.no_grad():
        module.eval()(*inputs)  # shape errors surface here, before any counting or timing
    return module, inputs


def base_row(suite: Suite, shape: Shape, device: str, request: VariantRequest) -> dict[str, Any]:
    return {
        "config": suite.name, "shape": shape.label, "variant": request.name, "label": request.label,
        "batch": shape.batch, "in_channels": shape.in_channels, "out_channels": shape.out_channels,
        "kernel_size": shape.kernel_size, "stride": shape.stride, "height": shape.height,
        "width": shape.width, "device": device, "dtype": suite.dtype,
        "memory_format": suite.memory_format,
        "mode": "training" if suite.timing["training"] else "inference",
        "status": "ok", "error": "",
    }


def cost_fields(request: VariantRequest, shape: Shape, cost: convbench.Cost) -> dict[str, Any]:
    formula = convbench.get_variant(request.name).cost(
        shape.in_channels, shape.out_channels, shape.kernel_size, shape.stride, shape.height,
        shape.width, **request.kwargs)
    if formula is None:
        params_formula = macs_formula = None
        formula_check = "no formula"
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
    baselines: dict[tuple[Shape, str], Built | None] = {}
    for index, (shape, device_name, request) in enumerate(cases):
        if on_case:
            on_case(index, len(cases), f"{request.label} on {shape.label} ({device_name})")
        device = resolve_device(device_name)
        row = base_row(suite, shape, device, request)
        raw: dict[str, Any] = {}
        is_baseline = request == suite.baseline
        try:
            try:
                module, inputs = build_case(shape, request)
            except ValueError as error:
                row.update(status="skipped", error=str(error))
                if is_baseline:
                    baselines[(shape, device)] = None
                yield row, raw
                continue
            if device.startswith("cuda") and not torch.cuda.is_available():
                raise RuntimeError("device cuda requested but torch.cuda.is_available() is False")
            cost = convbench.count(module, *inputs)
            row.update(cost_fields(request, shape, cost))
            built = Built(module, inputs, cost)
            baseline = built if is_baseline else baselines.get((shape, device))
            if baseline is not None:
                row["params_vs_baseline"] = cost.params / baseline.cost.params if baseline.cost.params else None
                row["macs_vs_baseline"] = cost.macs / baseline.cost.macs if baseline.cost.macs else None
            if measure_time:
                raw = _time_case(suite, device, built, baseline, is_baseline, row)
                peaks = cached_peaks(device, suite.dtype, suite.timing["threads"])
                row.update(roofline_fields(cost.macs, cost.bytes_moved, shape.batch, row.get("latency_ms"), peaks))
            if is_baseline:
                baselines[(shape, device)] = built
        except Exception as error:  # a failed case is a row, not the end of the run
            row.update(status="error", error=f"{type(error).__name__}: {error}")
            if is_baseline:
                baselines[(shape, device)] = None
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
