"""Counting: params, MACs, element-wise work and activation bytes, exactly, per sample of the
batch (image, sequence or sample, from the dimension the model takes its batch at: see
:mod:`convbench.counting.layout`); and the numbers JVET-style scripts report (ptflops,
torchsummary), each cross-checked against the exact one (:mod:`convbench.counting.references`).

The exact count runs the module once under a ``TorchDispatchMode`` that sees every aten op
(:mod:`convbench.counting.tally`), so functional convs (``F.conv2d`` in ``forward``), TorchScript
modules and quantized kernels are counted like ``nn.Conv2d``; what each op costs is the table in
:mod:`convbench.counting.ops`. The module runs itself, not a copy, and is put back as it was
(training flag, hooks, buffers, parameters).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils._pytree import keystr, tree_flatten_with_path

from convbench.counting.layout import BatchLayout, LayoutWatch, one_sample
from convbench.counting.references import (Reference, TorchsummaryRider, blame, flop_counter_step, ptflops_macs,
                                           step_blame)
from convbench.counting.tally import Tally, restored, set_mode, tally_pass

__all__ = ["ALL_REFERENCES", "Cost", "LayerCost", "count", "fixed_weight_count", "param_count"]

ROOT = "(root)"
REFERENCES = ("ptflops", "torchsummary")  # run by default: each costs about one forward at most
ALL_REFERENCES = (*REFERENCES, "ptflops_aten", "flop_counter")


@dataclass
class LayerCost:
    """One module's own share (its direct parameters and the ops its ``forward`` runs itself,
    not those of its submodules), per sample."""

    name: str
    type: str
    calls: int
    params: int
    fixed_weights: int
    macs: float
    elem_ops: float
    activation_bytes: float
    bytes_moved: float


@dataclass
class Cost:
    """What a module costs per sample of the batch (totals divided by the batch size).

    ``per`` is what a sample is (``image`` for an N x C x H x W input, ``sequence`` when a
    recurrent or attention layer takes the input, else ``sample``), ``batch`` how many the input
    holds at ``batch_dim`` (None: one unbatched sample), and ``batch_source`` what said so.
    ``macs`` are multiply-accumulates of weights with inputs, bias excluded (``flops = 2 x macs``);
    ``macs_int8`` the part of them that quantized int8 kernels do. ``kmac_per_pixel`` is
    ``macs / 1000 / pixels`` with ``pixels`` the H x W of an image input (the JVET NNVC convention;
    None for other inputs); ``elem_ops`` is element-wise work as costed in
    :mod:`convbench.counting.ops`; ``activation_bytes`` is the bytes every op writes (views
    excluded); ``bytes_moved`` is every op's tensor inputs (weights included) plus outputs, the
    traffic an op-by-op execution makes (views move nothing), and ``arithmetic_intensity`` is MACs
    per byte moved. ``macs_backward`` are the backward pass's MACs (``count(..., backward=True)``):
    the gradients the step needs; ``macs_recomputed`` the part of them that is a forward run again
    in the backward (activation checkpointing: ``torch.utils.checkpoint``); and
    ``macs_train_step_flop_counter`` what torch's ``FlopCounterMode`` counts for the whole step
    (FLOPs / 2). ``activation_memory_bytes`` is the most memory the call's own tensors held at
    once (whole batch, not per sample: every tensor an op allocated, from its allocation until it
    was freed; weights and inputs excluded, a kernel's internal workspace not seen), over the forward
    and, with ``backward``, the backward; ``saved_for_backward_bytes`` what autograd kept from the
    forward for the backward, beyond weights and inputs. ``data_dependent_ops`` names the ops that make
    the count hold for this input only (``aten.nonzero x 3``); empty when any input of these shapes costs the same.
    ``macs_ptflops`` / ``macs_ptflops_aten`` are ptflops' ``get_model_complexity_info`` with its
    ``pytorch`` (default) and ``aten`` backends; ``params_torchsummary`` is torchsummary's
    "Total params". ``check`` is ``"ok"`` when those run agree with the exact counts, else the reasons.
    """

    params: int
    fixed_weights: int
    macs: float
    flops: float
    elem_ops: float
    activation_bytes: float
    bytes_moved: float
    arithmetic_intensity: float
    kmac_per_pixel: float | None
    pixels: int | None
    batch: int
    macs_ptflops: int | None
    macs_ptflops_aten: int | None
    params_torchsummary: int | None
    check: str
    layers: list[LayerCost] = field(default_factory=list)
    uncounted_ops: tuple[str, ...] = ()
    counter: str = "exact: aten dispatch with torch.utils.flop_counter formulas, MACs = FLOPs / 2"
    per: str = "image"
    batch_dim: int | None = 0
    batch_source: str = ""
    macs_int8: float = 0
    data_dependent_ops: tuple[str, ...] = ()
    macs_backward: float | None = None
    macs_train_step_flop_counter: float | None = None
    macs_recomputed: float | None = None
    activation_memory_bytes: int = 0
    saved_for_backward_bytes: int | None = None

    @property
    def macs_train_step(self) -> float | None:
        """Forward and backward MACs of one training step (None when the backward was not counted)."""
        return None if self.macs_backward is None else self.macs + self.macs_backward

    def layer_table(self):
        """The per-layer breakdown as a pandas DataFrame; its numeric columns sum to the totals."""
        import pandas as pd

        return pd.DataFrame([asdict(layer) for layer in self.layers])

    def as_dict(self) -> dict:
        data = asdict(self)
        data["uncounted_ops"] = list(self.uncounted_ops)
        data["data_dependent_ops"] = list(self.data_dependent_ops)
        return data


def param_count(module: nn.Module) -> int:
    """Learnable parameters, each counted once however often it is used; frozen ones included; and
    the weights and biases quantized modules keep packed (``torch.ao.nn``: quantized, fused
    quantized and dynamic ones), which are not ``nn.Parameter`` s."""
    return sum(p.numel() for p in module.parameters()) + sum(_packed_size(m) for m in module.modules())


def _packed_size(module: nn.Module) -> int:
    """A quantized module's packed weights and biases: ``weight()`` / ``bias()`` on linear and conv
    ones, ``_weight_bias()`` (a dict of dicts) on dynamic recurrent ones."""
    if not type(module).__module__.startswith("torch.ao.nn."):
        return 0
    if callable(getattr(module, "weight", None)):
        tensors = [module.weight(), module.bias() if callable(getattr(module, "bias", None)) else None]
    elif callable(getattr(module, "_weight_bias", None)) and isinstance(packed := module._weight_bias(), dict):
        tensors = [t for group in packed.values() for t in group.values()]
    else:
        return 0
    return sum(t.numel() for t in tensors if isinstance(t, torch.Tensor))


def _fixed_buffers(module: nn.Module) -> list[torch.Tensor]:
    """Persistent floating-point buffers that take part in the computation (the STFT bases);
    normalisation statistics are not weights, non-persistent caches are derived copies, and a
    quantizer's scale (on a ``torch.ao.nn`` module, or an ``_scale_0`` that ``convert_fx`` puts on
    its graph module) is not a weight either."""
    if isinstance(module, nn.modules.batchnorm._NormBase) or type(module).__module__.startswith("torch.ao.nn."):
        return []
    quantizer = isinstance(module, torch.fx.GraphModule)
    return [
        buffer for name, buffer in module._buffers.items()
        if buffer is not None and buffer.is_floating_point()
        and name not in module._non_persistent_buffers_set
        and not (quantizer and _QUANTIZER_SCALE.search(name))
    ]


_QUANTIZER_SCALE = re.compile(r"scale_\d+$")


def fixed_weight_count(module: nn.Module) -> int:
    return sum(b.numel() for m in module.modules() for b in _fixed_buffers(m))


def count(module: nn.Module, *inputs, kwargs: dict | None = None, training: bool = False,
          reference_counters: bool | Iterable[str] = True, batch_dim: int | None = None,
          backward: bool = False, input_grad: bool | None = None) -> Cost:
    """Count ``module`` on its inputs (as ``module(*inputs, **kwargs)`` would run), per sample.

    Inputs may be tensors of any rank (token ids, sequences, images, volumes) and keyword
    tensors such as attention masks. The batch is where the model takes it (``batch_dim`` to say so
    where no layer does; a layer that does must agree). The exact pass runs the forward in eval
    mode (inference: BN uses its running statistics), or in training mode with ``training=True``;
    either way ``module`` keeps its own mode. ``reference_counters``: True runs ptflops and
    torchsummary, False none, or name them (``"ptflops"``, ``"torchsummary"``,
    ``"ptflops_aten"``, ``"flop_counter"``: torch's FlopCounterMode on the training step, with
    ``backward``); a field of one not run is None.

    ``backward=True`` also counts the backward of the outputs (each output's gradient all ones),
    as a training step runs it: the gradients the step needs. Those are the weights' gradients and
    the gradients of the inputs that need one. By default (``input_grad=None``) an input needs one
    when its tensor requires grad, as in training: data fed to a network does not, while
    ``x.requires_grad_()`` stands for a layer inside a network. ``input_grad=True`` / ``False``
    decides for every float input. The backward runs in training mode when ``training``.
    Activation checkpointing's recomputed forward is part of ``macs_backward``, and
    ``macs_recomputed`` says how much of it.
    """
    kwargs = dict(kwargs or {})
    named = _named_tensors(module, inputs, kwargs)
    tensors = [t for _, t in named]
    if not tensors:
        given = ", ".join(type(value).__name__ for value in (*inputs, *kwargs.values()))
        raise ValueError(f"count() found no tensor in the inputs given ({given})" if given else
                         "count() needs the module's input tensors, e.g. count(module, x)")
    if any(t.numel() == 0 for t in tensors if not t.is_nested):
        shape = next(tuple(t.shape) for t in tensors if not t.is_nested and t.numel() == 0)
        raise ValueError(f"an input is empty (shape {shape}): batch, channels and sizes must be >= 1")
    references = _references(reference_counters)
    with torch.random.fork_rng():  # counting leaves the caller's RNG alone
        return _count(module, tuple(inputs), kwargs, named, training, references, batch_dim,
                      backward, input_grad)


def _named_tensors(module: nn.Module, inputs: tuple, kwargs: dict) -> list[tuple[str, torch.Tensor]]:
    """The input tensors, inside lists, dicts and PackedSequences too, positional first, each named
    by its ``forward`` parameter where the signature says (else ``input i``) and its place in it."""
    try:
        parameters = [p.name for p in inspect.signature(module.forward).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        parameters = []
    named = []
    for i, value in enumerate(inputs):
        name = f"'{parameters[i]}'" if i < len(parameters) else f"input {i}"
        named += [(name + keystr(path), leaf) for path, leaf in tree_flatten_with_path(value)[0]
                  if isinstance(leaf, torch.Tensor)]
    for key, value in kwargs.items():
        named += [(f"'{key}'" + keystr(path), leaf) for path, leaf in tree_flatten_with_path(value)[0]
                  if isinstance(leaf, torch.Tensor)]
    return named


def _references(choice: bool | Iterable[str]) -> tuple[str, ...]:
    if choice is True:
        return REFERENCES
    if choice is False or choice is None:
        return ()
    names = tuple(choice)
    unknown = [name for name in names if name not in ALL_REFERENCES]
    if unknown:
        raise ValueError(f"unknown reference counter {unknown[0]!r}: choose from {', '.join(ALL_REFERENCES)}")
    return names


def _count(module: nn.Module, args: tuple, kwargs: dict, named: list[tuple[str, torch.Tensor]], training: bool,
           references: tuple[str, ...], batch_dim: int | None, backward: bool, input_grad: bool | None) -> Cost:
    tally, summary, layout = _exact_pass(module, args, kwargs, named, training, "torchsummary" in references,
                                         batch_dim, backward, input_grad)
    batched = named[layout.at][1]
    batch = layout.size
    layers = _layer_rows(module, tally, batch)
    params = param_count(module)
    macs = _per_sample(sum(r["macs"] for r in tally.rows.values()), batch)
    bytes_moved = _per_sample(sum(r["bytes_moved"] for r in tally.rows.values()), batch)
    pixels = int(batched.shape[-2] * batched.shape[-1]) if layout.unit == "image" else None

    sample = one_sample(layout, args, kwargs)
    not_run = Reference(error="not run")
    uncut = Reference(error=f"not run: one {layout.unit} cannot be cut from the inputs")
    ptflops = aten = not_run
    if "ptflops" in references:
        ptflops = ptflops_macs(module, *sample, "pytorch") if layout.cuttable else uncut
    if "ptflops_aten" in references:
        aten = ptflops_macs(module, *sample, "aten") if layout.cuttable else uncut
    check = (blame(module, tally, macs, params, layout, sample[0], ptflops, summary)
             if {"ptflops", "torchsummary"} <= set(references) else "not checked")
    macs_backward = None if not backward else _per_sample(sum(tally.backward_macs.values()), batch)
    if tally.backward_gaps:
        gap = (f"convbench: no MAC formula for {', '.join(sorted(tally.backward_gaps))} in the backward "
               "(counted as 0 MACs here)")
        check = gap if check in ("ok", "not checked") else f"{gap}; {check}"
    step = not_run
    if backward and "flop_counter" in references:
        step = flop_counter_step(module, args, kwargs, training, input_grad)
        check = step_blame(check, tally, step, batch, macs + macs_backward)

    return Cost(
        params=params,
        fixed_weights=fixed_weight_count(module),
        macs=macs,
        flops=2 * macs,
        elem_ops=_per_sample(sum(r["elem_ops"] for r in tally.rows.values()), batch),
        activation_bytes=_per_sample(sum(r["activation_bytes"] for r in tally.rows.values()), batch),
        bytes_moved=bytes_moved,
        arithmetic_intensity=macs / bytes_moved if bytes_moved else 0.0,
        kmac_per_pixel=macs / 1000 / pixels if pixels else None,
        pixels=pixels,
        batch=batch,
        macs_ptflops=ptflops.value,
        macs_ptflops_aten=aten.value,
        params_torchsummary=summary.value,
        check=check,
        layers=layers,
        uncounted_ops=tuple(sorted(tally.uncounted)),
        per=layout.unit,
        batch_dim=layout.dim,
        batch_source=layout.source,
        macs_int8=_per_sample(tally.int8_macs, batch),
        data_dependent_ops=tuple(f"{op} x {n}" for op, n in sorted(tally.data_dependent.items())),
        macs_backward=macs_backward,
        macs_recomputed=_per_sample(tally.recomputed_macs, batch) if backward else None,
        activation_memory_bytes=tally.peak_live_bytes,
        saved_for_backward_bytes=tally.saved_bytes if backward else None,
        macs_train_step_flop_counter=None if step.value is None else _per_sample(step.value, batch),
    )


def _exact_pass(module: nn.Module, args: tuple, kwargs: dict, named: list[tuple[str, torch.Tensor]], training: bool,
                with_summary: bool, batch_dim: int | None,
                backward: bool, input_grad: bool | None) -> tuple[Tally, Reference, BatchLayout]:
    """The tally of one forward, with torchsummary's hooks watching it when asked; if they break
    the pass, it is run again without them."""
    scripted = isinstance(module, torch.jit.ScriptModule)
    device = "cuda" if named[0][1].is_cuda else "cpu"
    rider = TorchsummaryRider(module, device) if with_summary and not scripted else None
    with torch.inference_mode(False), restored(module, values=training):
        set_mode(module, training)
        watch = LayoutWatch(named)
        tally = tally_pass(module, args, kwargs, watch, rider.ride if rider else None,
                           backward=backward, input_grad=input_grad)
    if rider is not None and not rider.completed:
        with torch.inference_mode(False), restored(module, values=training):
            set_mode(module, training)
            watch = LayoutWatch(named)
            tally = tally_pass(module, args, kwargs, watch, backward=backward, input_grad=input_grad)
    if rider is not None:
        summary = rider.result
    elif with_summary:
        summary = Reference(error="cannot hook a TorchScript module (no register_forward_hook)")
    else:
        summary = Reference(error="not run")
    return tally, summary, watch.layout(batch_dim)


def _per_sample(total: int, batch: int) -> float:
    return total // batch if total % batch == 0 else total / batch


def _layer_rows(module: nn.Module, tally: Tally, batch: int) -> list[LayerCost]:
    seen: set[int] = set()
    rows = []
    for name, sub in module.named_modules():
        own = [p for p in sub._parameters.values() if p is not None and id(p) not in seen]
        seen.update(id(p) for p in own)
        params = sum(p.numel() for p in own)
        fixed = sum(b.numel() for b in _fixed_buffers(sub))
        ops = tally.rows.get(name, {})
        if not (params or fixed or ops):
            continue
        rows.append(LayerCost(
            name=name or ROOT,
            type=type(sub).__name__,
            calls=tally.calls.get(name, 0),
            params=params,
            fixed_weights=fixed,
            macs=_per_sample(ops.get("macs", 0), batch),
            elem_ops=_per_sample(ops.get("elem_ops", 0), batch),
            activation_bytes=_per_sample(ops.get("activation_bytes", 0), batch),
            bytes_moved=_per_sample(ops.get("bytes_moved", 0), batch),
        ))
    return rows
