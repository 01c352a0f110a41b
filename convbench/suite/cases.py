"""Cases: one variant on one workload (a layer shape, or a network with its convs swapped), built,
counted and turned into the start of its measurement.

A variant that cannot take a shape (a ``ValueError`` from its builder) gives a ``skipped`` row with
the reason; anything else that fails gives an ``error`` row.
"""

from __future__ import annotations

import dataclasses
import traceback
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from convbench.counting import ALL_REFERENCES, Cost, count
from convbench.counting.layout import BatchDimMismatch
from convbench.models import build_model
from convbench.models.inputs import KeywordCall, make_inputs
from convbench.models.octave_resnet import oct_resnet50
from convbench.models.user import build_user_model, is_user_code
from convbench.registry import build, example_inputs, get_variant
from convbench.store.records import CaseRecord, CountRecord, Measurement, SwapRecord
from convbench.suite.interrupts import StopRequested
from convbench.plan.config import ModelWorkload, Shape, Suite, VariantRequest
from convbench.plan.expand import PlannedCase, PlannedSession
from convbench.timing.settings import OPTIMIZERS
from convbench.swap import conv_filter, swap_report

Workload = Shape | ModelWorkload


@dataclass
class Built:
    module: nn.Module
    inputs: tuple[torch.Tensor, ...]
    cost: Cost




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
        module = build(request.name, workload.in_channels, workload.out_channels,
                                 workload.kernel_size, workload.stride, **request.kwargs)
        inputs = example_inputs(request.name, workload.batch, workload.in_channels,
                                          workload.height, workload.width, stride=workload.stride,
                                          **request.kwargs)
    with torch.no_grad():
        module.eval()(*inputs)  # shape errors surface here, before any counting or timing
    return module, inputs


def _build_network(workload: ModelWorkload, request: VariantRequest):
    """The network with its convs swapped for the variant, its inputs, the names of the convs
    replaced, and those left as they were with why."""
    if request.name == "octave" and workload.name == "resnet50":
        return _octave_resnet50(workload, request)
    if is_user_code(workload.name):
        model = build_user_model(workload.name, workload.kwargs, workload.root or None)
    else:
        model = build_model(workload.name, **workload.kwargs)
    replaced, kept = [], {}
    if request.name != "conv" or request.params:
        where = conv_filter(**dict(workload.where)) if workload.where else None
        model, replaced, kept = swap_report(model, request.name, where, skip_unfit=workload.skip_unfit,
                                            **request.kwargs)
        if not replaced:
            raise ValueError(f"{request.name} can replace none of the selected convs of {workload.name}")
    return _keyword_call(model, workload), _network_inputs(workload), replaced, kept


def _octave_resnet50(workload: ModelWorkload, request: VariantRequest):
    """Octave in ResNet-50 is the paper's Octave ResNet-50 (its wiring, not a conv-by-conv swap),
    with alpha_in = alpha_out."""
    params = request.kwargs
    alpha = params.get("alpha_in", params.get("alpha_out", 0.5))
    if params.get("alpha_out", alpha) != alpha:
        raise ValueError("octave in resnet50 is oct_resnet50, which takes one alpha: give alpha_in = alpha_out")
    model = oct_resnet50(alpha, **workload.kwargs)
    octave = [name for name, m in model.named_modules() if type(m).__name__ == "OctaveConv2d"]
    return model, _network_inputs(workload), octave, {}


def _network_inputs(workload: ModelWorkload) -> tuple[torch.Tensor, ...]:
    args, kwargs = make_inputs(workload.input_specs, workload.batch)
    return (*args, *kwargs.values())


def _keyword_call(model: nn.Module, workload: ModelWorkload) -> nn.Module:
    """The model as the runtimes call it (inputs by position), where some of its inputs have names."""
    names = tuple(spec.name for spec in workload.input_specs if spec.name)
    return KeywordCall(model, len(workload.input_specs) - len(names), names) if names else model


def count_case(workload: Workload, module: nn.Module, inputs: tuple[torch.Tensor, ...], training: bool) -> Cost:
    """The case's counts: a network's on its own inputs (keyword ones by name), with the batch where
    its config put it, which the network must agree with; in training mode, the backward too."""
    if not isinstance(workload, ModelWorkload):  # a layer inside a network: its input needs its gradient
        return count(module, *inputs, reference_counters=ALL_REFERENCES, backward=training, training=training,
                     input_grad=True)
    args, kwargs = module.split(inputs) if isinstance(module, KeywordCall) else (inputs, {})
    model = module.model if isinstance(module, KeywordCall) else module
    first = workload.input_specs[0]
    try:
        return count(model, *args, kwargs=kwargs, reference_counters=ALL_REFERENCES, batch_dim=first.batch_dim,
                     backward=training, training=training, input_grad=False)
    except BatchDimMismatch as error:
        if error.found.dim is None:
            raise
        raise ValueError(f"{error}: give the input as {{shape: {list(first.shape)}, batch_dim: {error.found.dim}}}, "
                         "the shape without the batch") from None


def case_record(suite: Suite, session: PlannedSession, device: str, request: VariantRequest) -> CaseRecord:
    """Which case this is, before its axis is known: the session's workload and the variant, on eager."""
    workload = session.workload
    is_model = isinstance(workload, ModelWorkload)
    channels, height, width = _channels_first(workload) if is_model else (
        workload.in_channels, workload.height, workload.width)
    return CaseRecord(
        case_id=None, session=session.key, machine=None, run=None, config=suite.name, shape=workload.label,
        variant=request.name, label=request.label, batch=workload.batch, in_channels=channels,
        out_channels=None if is_model else workload.out_channels,
        kernel_size=None if is_model else workload.kernel_size, stride=None if is_model else workload.stride,
        height=height, width=width, device=device, backend="eager", dtype=suite.dtype,
        memory_format=suite.memory_format, mode=_mode(suite))


def _mode(suite: Suite) -> str:
    """inference, training, or training with the optimizer step it ends with, named."""
    if not suite.timing.training:
        return "inference"
    return f"training + {OPTIMIZERS[suite.timing.optimizer]}" if suite.timing.optimizer else "training"


def _channels_first(workload: ModelWorkload) -> tuple[int | None, int | None, int | None]:
    """Channels, height and width of a batch-first float input (C x ... x H x W); None where the
    input is not one (token ids, a sequence-first input)."""
    first = workload.input_specs[0]
    if first.batch_dim or not first.dtype.startswith(("float", "bfloat")):
        return None, None, None
    shape = first.shape
    return shape[0], shape[-2] if len(shape) >= 3 else None, shape[-1] if len(shape) >= 3 else None


def count_record(request: VariantRequest, workload: Workload, cost: Cost) -> CountRecord:
    """The case's counts, with the variant's closed-form ones and how the two compare."""
    formula = None if isinstance(workload, ModelWorkload) else get_variant(request.name).cost(
        workload.in_channels, workload.out_channels, workload.kernel_size, workload.stride,
        workload.height, workload.width, **request.kwargs)
    if formula is None:
        params_formula = macs_formula = None
        formula_check = "no formula" if not isinstance(workload, ModelWorkload) else "n/a"  # a network has none
    else:
        params_formula, macs_formula = formula.params, formula.macs
        mismatches = [f"{what}: counted {counted:,} vs formula {expected:,}"
                      for what, counted, expected in (("params", cost.params, formula.params),
                                                      ("macs", cost.macs, formula.macs),
                                                      ("fixed weights", cost.fixed_weights, formula.fixed_weights),
                                                      ("backward macs", cost.macs_backward, formula.macs_backward))
                      if counted != expected and counted is not None]
        formula_check = "; ".join(mismatches) or "ok"
    return CountRecord(
        params=cost.params, fixed_weights=cost.fixed_weights, macs=cost.macs, flops=cost.flops,
        kmac_per_pixel=cost.kmac_per_pixel, elem_ops=cost.elem_ops, activation_bytes=cost.activation_bytes,
        bytes_moved=cost.bytes_moved, arithmetic_intensity=cost.arithmetic_intensity, per=cost.per,
        batch_dim=cost.batch_dim, batch_source=cost.batch_source, macs_int8=cost.macs_int8,
        count_depends_on=", ".join(cost.data_dependent_ops), macs_backward=cost.macs_backward,
        macs_recomputed=cost.macs_recomputed,
        macs_train_step=cost.macs_train_step, activation_memory_bytes=cost.activation_memory_bytes,
        saved_for_backward_bytes=cost.saved_for_backward_bytes, params_formula=params_formula,
        macs_formula=macs_formula, formula_check=formula_check, macs_ptflops=cost.macs_ptflops,
        macs_ptflops_aten=cost.macs_ptflops_aten, params_torchsummary=cost.params_torchsummary,
        count_check=cost.check)


@dataclass
class Case:
    """One planned case: its measurement, raw timings, and module once built (shared by the cases
    of one variant on every axis, which are counted once)."""

    measurement: Measurement
    raw: dict[str, Any]
    built: Built | None
    request: VariantRequest
    planned: PlannedCase | None = None

    @property
    def is_baseline(self) -> bool:
        return self.planned.is_baseline

    @property
    def backend(self) -> str:
        return self.planned.axis.backend

    @property
    def threads(self) -> int | None:
        return self.planned.axis.threads

    @property
    def dtype(self) -> str:
        return self.planned.axis.dtype


def on_axis(counted: Case, planned: PlannedCase) -> Case:
    """The counted case as measured at the planned case's axis: the same module and counts, its
    own row and id."""
    axis = planned.axis
    case = dataclasses.replace(counted.measurement.case, backend=axis.backend, dtype=axis.dtype,
                               case_id=planned.case_id, threads=axis.threads if planned.threads_vary else None)
    return Case(dataclasses.replace(counted.measurement, case=case, ratios={}), {}, counted.built, counted.request,
                planned)


def prepare(suite: Suite, session: PlannedSession, device: str, request: VariantRequest) -> Case:
    """The variant built for the session's workload and counted once; a skipped or error row when it cannot be."""
    workload = session.workload
    measurement = Measurement(case_record(suite, session, device, request))
    case = Case(measurement, {}, None, request)
    try:
        try:
            module, inputs = build_case(workload, request, swaps := {})
            measurement.swaps = SwapRecord(**swaps) if swaps else None
        except ValueError as error:
            measurement.failed("skipped", str(error), traceback.format_exc())
            return case
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("device cuda requested but torch.cuda.is_available() is False")
        cost = count_case(workload, module, inputs, suite.timing.training)
        measurement.count = count_record(request, workload, cost)
        case.built = Built(module, inputs, cost)
    except Exception as error:  # a failed case is a row, not the end of the run
        measurement.failed("error", f"{type(error).__name__}: {error}", traceback.format_exc())
    except (SystemExit, KeyboardInterrupt) as error:  # raised by the user's code, not by a stop signal
        if isinstance(error, StopRequested):
            raise
        measurement.failed("error", f"{type(error).__name__}({error}) raised while building the case",
                           traceback.format_exc())
    return case
