"""Counting: params, MACs, element-wise work and activation bytes, exactly, per image; and the
numbers JVET-style scripts report (ptflops, torchsummary), each cross-checked against the exact one.

The exact count runs the module once under a ``TorchDispatchMode`` that sees every aten op, so
functional convs (``F.conv2d`` in ``forward``) are counted like ``nn.Conv2d``; what each op costs is
the table in :mod:`convbench.counting.ops`. Every pass runs on a deep copy of the module, so counting never
changes it (training flag, hooks, buffers, parameters).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import re
import warnings
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from convbench.counting.ops import DATA_MOVEMENT, ELEMENTWISE_COST, is_conv, mac_count, multiplies_weights

__all__ = ["Cost", "LayerCost", "count", "fixed_weight_count", "param_count"]

ROOT = "(root)"
_CONV_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


@dataclass
class LayerCost:
    """One module's own share (its direct parameters and the ops its ``forward`` runs itself,
    not those of its submodules), per image."""

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
    """What a module costs per image (totals divided by the inputs' batch size).

    ``macs`` are multiply-accumulates of weights with inputs, bias excluded (``flops = 2 x macs``);
    ``kmac_per_pixel`` is ``macs / 1000 / pixels`` with ``pixels`` the H x W of the first,
    full-resolution input (the JVET NNVC convention); ``elem_ops`` is element-wise work as costed in
    :mod:`convbench.counting.ops`; ``activation_bytes`` is the bytes every op writes (views excluded);
    ``bytes_moved`` is every op's tensor inputs (weights included) plus outputs, the traffic an
    op-by-op execution makes (views move nothing), and ``arithmetic_intensity`` is MACs per byte moved.
    ``macs_ptflops`` / ``macs_ptflops_aten`` are ptflops' ``get_model_complexity_info`` with its
    ``pytorch`` (default) and ``aten`` backends; ``params_torchsummary`` is torchsummary's
    "Total params". ``check`` is ``"ok"`` when both agree with the exact counts, else the reasons.
    """

    params: int
    fixed_weights: int
    macs: float
    flops: float
    elem_ops: float
    activation_bytes: float
    bytes_moved: float
    arithmetic_intensity: float
    kmac_per_pixel: float
    pixels: int
    batch: int
    macs_ptflops: int | None
    macs_ptflops_aten: int | None
    params_torchsummary: int | None
    check: str
    layers: list[LayerCost] = field(default_factory=list)
    uncounted_ops: tuple[str, ...] = ()
    counter: str = "exact: aten dispatch with torch.utils.flop_counter formulas, MACs = FLOPs / 2"

    def layer_table(self):
        """The per-layer breakdown as a pandas DataFrame; its numeric columns sum to the totals."""
        import pandas as pd

        return pd.DataFrame([asdict(layer) for layer in self.layers])

    def as_dict(self) -> dict:
        data = asdict(self)
        data["uncounted_ops"] = list(self.uncounted_ops)
        return data


def param_count(module: nn.Module) -> int:
    """Learnable parameters, each counted once however often it is used; frozen ones included."""
    return sum(p.numel() for p in module.parameters())


def _fixed_buffers(module: nn.Module) -> list[torch.Tensor]:
    """Persistent floating-point buffers that take part in the computation (the STFT bases);
    normalisation statistics are not weights, and non-persistent caches are derived copies."""
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return []
    return [
        buffer for name, buffer in module._buffers.items()
        if buffer is not None and buffer.is_floating_point()
        and name not in module._non_persistent_buffers_set
    ]


def fixed_weight_count(module: nn.Module) -> int:
    return sum(b.numel() for m in module.modules() for b in _fixed_buffers(m))


def count(module: nn.Module, *inputs: torch.Tensor, training: bool = False,
          reference_counters: bool = True) -> Cost:
    """Count ``module`` on ``inputs`` (as ``module(*inputs)`` would run), per image.

    The exact pass runs the forward in eval mode (inference: BN uses its running statistics), or in
    training mode with ``training=True``; either way on a copy, so ``module`` keeps its own mode.
    ``reference_counters=False`` skips ptflops and torchsummary (their fields are then None).
    """
    if not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise ValueError("count() needs the module's input tensors, e.g. count(module, x)")
    if inputs[0].dim() < 3:
        raise ValueError(f"the first input must be N x C x H x W, got shape {tuple(inputs[0].shape)}")
    if inputs[0].numel() == 0:
        raise ValueError(f"the first input is empty (shape {tuple(inputs[0].shape)}): batch, channels and "
                         "sizes must be >= 1")
    batch = inputs[0].shape[0]
    pixels = inputs[0].shape[-2] * inputs[0].shape[-1]

    with torch.random.fork_rng():  # counting (torchsummary draws random inputs) leaves the caller's RNG alone
        return _count(module, inputs, training, reference_counters, batch, pixels)


def _count(module: nn.Module, inputs: tuple[torch.Tensor, ...], training: bool, reference_counters: bool,
           batch: int, pixels: int) -> Cost:
    tally = _tally(module, inputs, training)
    layers = _layer_rows(module, tally, batch)
    params = param_count(module)
    fixed = fixed_weight_count(module)
    macs = _per_image(sum(r["macs"] for r in tally.rows.values()), batch)
    bytes_moved = _per_image(sum(r["bytes_moved"] for r in tally.rows.values()), batch)

    if reference_counters:
        ptflops_macs, ptflops_error = _ptflops_macs(module, inputs, "pytorch")
        aten_macs, _ = _ptflops_macs(module, inputs, "aten")
        summary_params, summary_error = _torchsummary_params(module, inputs)
        check = _check(macs, params, _per_image(tally.functional_conv_macs, batch), tally,
                       ptflops_macs, ptflops_error, summary_params, summary_error)
    else:
        ptflops_macs = aten_macs = summary_params = None
        check = "not checked"

    return Cost(
        params=params,
        fixed_weights=fixed,
        macs=macs,
        flops=2 * macs,
        elem_ops=_per_image(sum(r["elem_ops"] for r in tally.rows.values()), batch),
        activation_bytes=_per_image(sum(r["activation_bytes"] for r in tally.rows.values()), batch),
        bytes_moved=bytes_moved,
        arithmetic_intensity=macs / bytes_moved if bytes_moved else 0.0,
        kmac_per_pixel=macs / 1000 / pixels,
        pixels=pixels,
        batch=batch,
        macs_ptflops=ptflops_macs,
        macs_ptflops_aten=aten_macs,
        params_torchsummary=summary_params,
        check=check,
        layers=layers,
        uncounted_ops=tuple(sorted(tally.uncounted)),
    )


def _per_image(total: int, batch: int) -> float:
    return total // batch if total % batch == 0 else total / batch


class _Tally(TorchDispatchMode):
    """Attributes every aten op to the module whose ``forward`` is running it."""

    def __init__(self, conv_module_names: set[str]):
        super().__init__()
        self.stack: list[str] = []
        self.conv_module_names = conv_module_names
        self.rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.calls: Counter = Counter()
        self.uncounted: Counter = Counter()
        self.functional_conv_macs = 0

    def enter(self, name: str) -> None:
        self.calls[name] += 1
        self.stack.append(name)

    def leave(self) -> None:
        self.stack.pop()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func._overloadpacket
        owner = self.stack[-1] if self.stack else ""
        row = self.rows[owner]
        macs = mac_count(packet, args, kwargs, out)
        row["macs"] += macs
        if macs and is_conv(packet) and owner not in self.conv_module_names:
            self.functional_conv_macs += macs
        if packet in ELEMENTWISE_COST:
            row["elem_ops"] += ELEMENTWISE_COST[packet](args, kwargs, out)
        elif packet not in DATA_MOVEMENT and not macs:
            self.uncounted[str(packet)] += 1
        written = _bytes_written(func, out)
        row["activation_bytes"] += written
        if written:  # a pure view reads and writes nothing
            row["bytes_moved"] += written + _bytes_read(args, kwargs)
        return out


def _nbytes(value) -> int:
    return value.numel() * value.element_size() if isinstance(value, torch.Tensor) else 0


def _bytes_written(func, out) -> int:
    outputs = out if isinstance(out, (tuple, list)) else (out,)
    written = 0
    for returned, value in zip(func._schema.returns, outputs):
        alias = returned.alias_info
        if alias is None or alias.is_write:
            written += _nbytes(value)
    return written


def _bytes_read(args, kwargs) -> int:
    tensors = [*args, *kwargs.values()]
    flat = [t for item in tensors for t in (item if isinstance(item, (list, tuple)) else (item,))]
    return sum(_nbytes(t) for t in flat)


def _ordinary(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Parameters, buffers and inputs made in ``torch.inference_mode()`` dispatch composite ops
    (``aten.linear``, ``aten.conv2d``) without decomposing them; ordinary copies count the same in
    any mode."""
    for sub in model.modules():
        for name, param in sub._parameters.items():
            if param is not None and param.is_inference():
                sub._parameters[name] = nn.Parameter(param.detach().clone(), requires_grad=param.requires_grad)
        for name, buffer in sub._buffers.items():
            if buffer is not None and buffer.is_inference():
                sub._buffers[name] = buffer.clone()
    return tuple(t.clone() if isinstance(t, torch.Tensor) and t.is_inference() else t for t in inputs)


def _tally(module: nn.Module, inputs: tuple[torch.Tensor, ...], training: bool) -> _Tally:
    with torch.inference_mode(False):
        model = copy.deepcopy(module).train(training)
        inputs = _ordinary(model, inputs)
        tally = _Tally({name for name, m in model.named_modules() if isinstance(m, _CONV_MODULES)})
        for name, sub in model.named_modules():
            sub.register_forward_pre_hook(lambda m, a, name=name: tally.enter(name))
            sub.register_forward_hook(lambda m, a, o: tally.leave())
        with torch.no_grad(), tally:
            model(*inputs)
    return tally


def _layer_rows(module: nn.Module, tally: _Tally, batch: int) -> list[LayerCost]:
    seen: set[int] = set()
    rows = []
    for name, sub in module.named_modules():
        own = [p for p in sub.parameters(recurse=False) if id(p) not in seen]
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
            macs=_per_image(ops.get("macs", 0), batch),
            elem_ops=_per_image(ops.get("elem_ops", 0), batch),
            activation_bytes=_per_image(ops.get("activation_bytes", 0), batch),
            bytes_moved=_per_image(ops.get("bytes_moved", 0), batch),
        ))
    return rows


@contextlib.contextmanager
def _quiet():
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield sink


def _ptflops_macs(module: nn.Module, inputs, backend: str) -> tuple[int | None, str | None]:
    """ptflops ``get_model_complexity_info`` on one image, as JVET-style scripts call it."""
    from ptflops import get_model_complexity_info

    model = copy.deepcopy(module)
    single = tuple(t[:1] for t in inputs)
    if len(single) == 1:
        batch = single[0]  # passed positionally, so ptflops' hooks on a bare conv see it
    else:
        try:  # ptflops passes several inputs only as keyword arguments
            batch = dict(inspect.signature(model.forward).bind(*single).arguments)
        except TypeError as error:
            return None, f"cannot pass the inputs by name ({error})"
    with _quiet() as log:
        try:
            macs, _ = get_model_complexity_info(
                model, tuple(single[0].shape[1:]), as_strings=False, print_per_layer_stat=False,
                input_constructor=lambda _: batch, backend=backend, ost=log,
            )
        except Exception as error:  # ptflops' own failures are part of what we report
            return None, f"{type(error).__name__}: {error}"
    if macs is None:
        lines = [line for line in log.getvalue().splitlines() if line.strip()]
        return None, lines[-1] if lines else "no result"
    return int(macs), None


def _torchsummary_params(module: nn.Module, inputs) -> tuple[int | None, str | None]:
    """torchsummary's "Total params" line, as JVET-style scripts read it."""
    from torchsummary import summary

    model = copy.deepcopy(module)
    sizes = [tuple(t.shape[1:]) for t in inputs]
    device = "cuda" if inputs[0].is_cuda else "cpu"
    with _quiet() as log:
        try:
            summary(model, sizes if len(sizes) > 1 else sizes[0], device=device)
        except Exception as error:
            return None, f"{type(error).__name__}: {error}"
    match = re.search(r"Total params: ([\d,]+)", log.getvalue())
    if not match:
        return None, "no 'Total params' line"
    return int(match.group(1).replace(",", "")), None


def _check(macs, params, functional_conv_macs, tally, ptflops_macs, ptflops_error,
           summary_params, summary_error) -> str:
    reasons = []
    gaps = sorted(op for op in tally.uncounted if multiplies_weights(op))
    if gaps:
        reasons.append(f"convbench: no MAC formula for {', '.join(gaps)} (counted as 0 MACs here)")
    others = sorted(op for op in tally.uncounted if not multiplies_weights(op))
    if others:
        reasons.append(f"convbench: no element-op count for {', '.join(others)} (0 element ops here; bytes counted)")
    if ptflops_macs is None:
        reasons.append(f"ptflops: failed ({ptflops_error})")
    elif ptflops_macs != macs and not gaps:  # with a gap of ours, the difference is not ptflops' to explain
        if functional_conv_macs:
            reasons.append("ptflops: functional conv not counted")
        extra = ptflops_macs - (macs - functional_conv_macs)
        if extra > 0:
            reasons.append(f"ptflops: +{extra:,} non-MAC ops counted as MACs (bias, BN, activation, pooling)")
        elif extra < 0:
            reasons.append(f"ptflops: {-extra:,} MACs missing")
    if summary_params is None:
        if "has no attribute 'numpy'" in summary_error:
            reasons.append("torchsummary: crashed, no submodule has a .weight or .bias to count")
        else:
            reasons.append(f"torchsummary: crashed ({summary_error})")
    elif summary_params != params:
        reused = any(calls > 1 for name, calls in tally.calls.items() if name)
        why = ("counts a reused module once per call" if reused
               else "counts only submodules' .weight and .bias")
        reasons.append(f"torchsummary: {summary_params:,} params vs {params:,} ({why})")
    return "; ".join(reasons) if reasons else "ok"
