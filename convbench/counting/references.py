"""The counters JVET-style scripts use, run as those scripts call them, and why they differ from
the exact count: ptflops' ``get_model_complexity_info`` (its default ``pytorch`` backend, and the
``aten`` one) on one sample of the batch, and torchsummary's "Total params".

Neither runs on a copy: each runs inside :func:`convbench.counting.tally.restored`, which removes
the hooks and attributes it adds. torchsummary feeds its own ``torch.rand(2, ...)`` batch and takes
positional float inputs only; here its hooks watch the exact pass instead (its input is swapped
for the model's own), so it costs no forward of its own and can watch any model its hooks can.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.utils._pytree import tree_leaves

from convbench.counting.layout import BatchLayout
from convbench.counting.ops import multiplies_weights
from convbench.counting.tally import Tally, backward_of, needing_grad, restored, set_mode

__all__ = ["Reference", "TorchsummaryRider", "blame", "flop_counter_step", "ptflops_macs", "step_blame"]


@dataclass
class Reference:
    """What one reference counter reported (None if it failed) and why it failed."""

    value: int | None = None
    error: str | None = None


@contextlib.contextmanager
def _quiet():
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield sink


def ptflops_macs(module: nn.Module, args: tuple, kwargs: dict, backend: str) -> Reference:
    """ptflops on one sample (``args`` / ``kwargs`` already cut to it): inputs passed positionally
    when there is one, else by name, as ptflops takes several inputs only as keyword arguments."""
    from ptflops import get_model_complexity_info

    if isinstance(module, torch.jit.ScriptModule):
        return Reference(error="cannot hook a TorchScript module (no register_forward_hook)")
    if len(args) == 1 and not kwargs and not isinstance(args[0], dict):  # ptflops spreads a dict as keywords
        batch = args[0]
    else:
        try:
            batch = dict(inspect.signature(module.forward).bind(*args, **kwargs).arguments)
        except (TypeError, ValueError) as error:
            return Reference(error=f"cannot pass the inputs by name ({error})")
    first = next((t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)), torch.empty(1))
    with _quiet() as log, restored(module, values=False):  # ptflops runs the module in eval mode
        try:
            macs, _ = get_model_complexity_info(
                module, tuple(first.shape[1:]), as_strings=False, print_per_layer_stat=False,
                input_constructor=lambda _: batch, backend=backend, ost=log,
            )
        except Exception as error:  # ptflops' own failures are part of what we report
            return Reference(error=f"{type(error).__name__}: {error}")
        finally:
            _unpatch_ptflops()
    if macs is None:
        lines = [line for line in log.getvalue().splitlines() if line.strip()]
        return Reference(error=lines[-1] if lines else "no result")
    return Reference(int(macs))


def _unpatch_ptflops() -> None:
    """ptflops swaps ``torch.nn.functional`` and tensor ops for counting wrappers while it runs and
    can fail before it swaps them back (ptflops 0.7.5 on a traced module): swap back what is left."""
    import torch.nn.functional as F
    from ptflops import pytorch_engine

    if isinstance(F.relu, pytorch_engine.torch_function_wrapper):
        pytorch_engine.unpatch_functional()
    if isinstance(torch.matmul, pytorch_engine.torch_function_wrapper):
        pytorch_engine.unpatch_tensor_ops()


class TorchsummaryRider:
    """Runs torchsummary's ``summary`` with the model's ``forward`` swapped for the exact pass, so
    its hooks see that pass; :attr:`completed` says whether the pass ran to its end (if not, the
    exact pass is run again without it)."""

    def __init__(self, module: nn.Module, device: str):
        self.module = module
        self.device = device
        self.completed = False
        self.result = Reference(error="not run")

    def ride(self, call: Callable[[], object], tally: Tally) -> None:
        from torchsummary import summary

        def forward(*_ignored, **_also):
            _pause_in(self.module, tally, "torchsummary")
            output = call()
            self.completed = True
            return output

        with _quiet() as log:
            try:
                self.module.forward = forward  # an instance attribute, removed by restored()
                summary(self.module, (1,), device=self.device)
            except Exception as error:
                self.result = Reference(error=_summary_error(error))
                return
        match = re.search(r"Total params: ([\d,]+)", log.getvalue())
        self.result = (Reference(int(match.group(1).replace(",", ""))) if match
                       else Reference(error="no 'Total params' line"))


def _pause_in(module: nn.Module, tally: Tally, package: str) -> None:
    """Wrap the forward hooks that ``package`` registered so that their own ops are not counted."""
    for sub in module.modules():
        hooks = getattr(sub, "_forward_hooks", {})
        for key, hook in list(hooks.items()):
            if getattr(hook, "__module__", "").startswith(package):
                hooks[key] = _paused(hook, tally)


def _paused(hook, tally: Tally):
    def paused_hook(*args):
        with tally.pause():
            return hook(*args)
    return paused_hook


def _summary_error(error: Exception) -> str:
    if "has no attribute 'numpy'" in str(error):
        return "crashed, no submodule has a .weight or .bias to count"
    return f"crashed ({type(error).__name__}: {error})"


@dataclass
class _SummaryParts:
    """torchsummary's total taken apart: what it adds (a module's .weight and .bias once per call,
    a weight shared by several modules once per module) and what it misses."""

    reused: int
    reused_names: list[str]
    shared: int
    never_ran: int
    never_ran_names: list[str]
    unhooked: int
    unhooked_names: list[str]

    def total(self, params: int) -> int:
        return params + self.reused + self.shared - self.never_ran - self.unhooked


def _size(value) -> int:
    return int(value.numel()) if isinstance(value, torch.Tensor) else 0


def _summary_parts(module: nn.Module, calls: Counter) -> _SummaryParts:
    """torchsummary hooks every module but the model itself, ``nn.Sequential`` and
    ``nn.ModuleList``, and adds ``.weight`` and ``.bias`` sizes each time a hook fires."""
    reused, reused_names, owners = 0, [], Counter()
    counted: set[int] = set()
    never_ran, never_ran_names, unhooked, unhooked_names = 0, [], 0, []
    for name, sub in module.named_modules():
        hooked = sub is not module and not isinstance(sub, (nn.Sequential, nn.ModuleList))
        runs = calls.get(name, 0)
        tensors = [getattr(sub, key, None) for key in ("weight", "bias")]
        tensors = [t for t in tensors if isinstance(t, torch.Tensor)]
        if hooked and runs:
            for tensor in tensors:
                owners[id(tensor)] += 1
                counted.add(id(tensor))
            if runs > 1 and tensors:
                reused += (runs - 1) * sum(_size(t) for t in tensors)
                reused_names.append(name)
        own = list(sub.parameters(recurse=False))
        missed = [p for p in own if id(p) not in counted]
        if not missed:
            continue
        size = sum(_size(p) for p in missed)
        if hooked and not runs:
            never_ran += size
            never_ran_names.append(name)
        else:
            unhooked += size
            unhooked_names.append(name or "(root)")
    shared = sum((n - 1) * _size(t) for t in _tensors(module) if (n := owners.get(id(t), 0)) > 1)
    return _SummaryParts(reused, reused_names, shared, never_ran, never_ran_names, unhooked, unhooked_names)


def _tensors(module: nn.Module) -> list[torch.Tensor]:
    seen, result = set(), []
    for sub in module.modules():
        for key in ("weight", "bias"):
            tensor = getattr(sub, key, None)
            if isinstance(tensor, torch.Tensor) and id(tensor) not in seen:
                seen.add(id(tensor))
                result.append(tensor)
    return result


def _names(names: list[str], most: int = 3) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _summary_reason(module: nn.Module, tally: Tally, params: int, reported: int) -> str:
    parts = _summary_parts(module, tally.calls)
    why = []
    if parts.reused:
        why.append(f"+{parts.reused:,}: a reused module's .weight and .bias counted once per call "
                   f"({_names(parts.reused_names)})")
    if parts.shared:
        why.append(f"+{parts.shared:,} a weight shared by several modules, counted for each")
    if parts.never_ran:
        why.append(f"-{parts.never_ran:,} in modules whose forward never ran, their weights used functionally, so "
                   f"no hook fired ({_names(parts.never_ran_names)})")
    if parts.unhooked:
        why.append(f"-{parts.unhooked:,} not in a hooked submodule's .weight or .bias "
                   f"({_names(parts.unhooked_names)})")
    left = reported - parts.total(params)
    if left:
        why.append(f"{left:+,} not explained")
    return f"torchsummary: {reported:,} params vs {params:,} ({'; '.join(why)})"


def blame(module: nn.Module, tally: Tally, macs: float, params: int, layout: BatchLayout, sample: tuple,
          ptflops: Reference, summary: Reference) -> str:
    """Why the references differ from the exact count (``"ok"`` when they agree), each reason with
    its sign and its cause. ``macs`` are per sample; ``sample`` the inputs ptflops was given."""
    reasons = []
    gaps = sorted(op for op in tally.uncounted if multiplies_weights(op))
    if gaps:
        reasons.append(f"convbench: no MAC formula for {', '.join(gaps)} (counted as 0 MACs here)")
    others = sorted(op for op in tally.uncounted if not multiplies_weights(op))
    if others:
        reasons.append(f"convbench: no element-op count for {', '.join(others)} (0 element ops here; bytes counted)")
    if ptflops.value is None:
        reasons.append(f"ptflops: failed ({ptflops.error})")
    elif not gaps:  # with a gap of ours, the difference is not ptflops' to explain
        reasons.extend(_ptflops_reasons(ptflops.value, macs, tally, layout, sample))
    if summary.value is None:
        reasons.append(f"torchsummary: {summary.error}")
    elif summary.value != params:
        reasons.append(_summary_reason(module, tally, params, summary.value))
    return "; ".join(reasons) if reasons else "ok"


def _ptflops_reasons(reported: int, macs: float, tally: Tally, layout: BatchLayout, sample: tuple) -> list[str]:
    reasons = []
    first = sample[0] if sample and isinstance(sample[0], torch.Tensor) else None
    total = reported
    if layout.dim is None and first is not None and first.dim() > 1 and first.shape[0] > 1:
        return [f"ptflops: {reported:,} MACs, reading the unbatched input's first dim ({first.shape[0]}) as its batch"]
    entries = sample[0] if sample and isinstance(sample[0], (list, tuple)) else ()
    if len(entries) > 1:  # ptflops takes len(input) for the batch: a list's length
        total = reported * len(entries)
        reasons.append(f"ptflops: divides by the input list's length ({len(entries)}), which is not the batch: "
                       f"x {len(entries)} = {total:,}")
    if layout.dim not in (0, None) and first is not None and first.dim() and first.shape[0] > 1:
        steps = int(first.shape[0])  # ptflops divides by len(input), the first dim, taking it for the batch
        total = reported * steps
        reasons.append(f"ptflops: divides by the input's first dim ({steps}), which is not the batch here "
                       f"(dim {layout.dim}): x {steps} = {total:,}")
    if total == macs:
        return reasons
    functional = tally.functional_conv_macs / max(layout.size, 1)
    if functional:
        reasons.append("ptflops: functional conv not counted")
    extra = total - (macs - functional)
    if extra > 0:
        reasons.append(f"ptflops: +{extra:,.0f} non-MAC ops counted as MACs (bias, BN, activation, pooling)")
    elif extra < 0:
        reasons.append(f"ptflops: {-extra:,.0f} MACs missing")
    return reasons


def flop_counter_step(module: nn.Module, args: tuple, kwargs: dict, training: bool,
                      input_grad: bool | None) -> Reference:
    """torch's ``FlopCounterMode`` over one training step as :func:`convbench.count` runs it
    (forward, then the backward of every output), in MACs (its FLOPs / 2), over the whole batch."""
    from torch.utils.flop_counter import FlopCounterMode

    if isinstance(module, torch.jit.ScriptModule):
        return Reference(error="not run on a TorchScript module")
    with _quiet(), restored(module):
        try:
            set_mode(module, training)
            step_args, step_kwargs = needing_grad(args, kwargs, input_grad)
            with torch.enable_grad(), FlopCounterMode(display=False) as counter:
                backward_of(module(*step_args, **step_kwargs))
        except Exception as error:
            return Reference(error=f"{type(error).__name__}: {error}")
    return Reference(counter.get_total_flops() // 2)


# Why FlopCounterMode's count of an op differs from convbench's, where the cause is known.
WHY_TORCH_DIFFERS = {
    "aten.convolution_backward": "counts a grouped conv's input gradient as if the conv were not grouped",
}


def step_blame(check: str, tally: Tally, step: Reference, batch: int, train_step_macs: float) -> str:
    """``check`` with why FlopCounterMode's training-step MACs differ from convbench's: the ops
    whose MACs it counts otherwise (it has no formula for the fused attention and recurrent ops,
    and over-counts grouped conv gradients), and what those leave unexplained."""
    if step.value is None:
        reason = f"FlopCounterMode: failed on the training step ({step.error})"
    else:
        theirs = step.value / batch
        if theirs == train_step_macs:
            return "ok" if check == "not checked" else check
        parts = []
        for op, gap in sorted(tally.flop_counter_gap.items(), key=lambda item: -abs(item[1])):
            if gap:
                why = WHY_TORCH_DIFFERS.get(op, "no formula" if gap < 0 else "its own formula")
                parts.append(f"{op} {gap / batch:+,.0f} ({why})")
        left = theirs - train_step_macs - sum(tally.flop_counter_gap.values()) / batch
        if left:
            parts.append(f"{left:+,.0f} not explained")
        reason = f"FlopCounterMode: training step {theirs:,.0f} MACs vs {train_step_macs:,.0f} ({'; '.join(parts)})"
    return reason if check in ("ok", "not checked") else f"{check}; {reason}"
