"""The exact pass: one forward of the module under a ``TorchDispatchMode`` that sees every aten op
and attributes it to the module whose ``forward`` runs it.

The module itself runs, not a copy: :func:`restored` puts back afterwards everything a pass can
change (training flags, hooks, attributes a reference counter adds, parameters swapped in,
buffer values such as batch-norm statistics), so counting costs one forward, not a deep copy.
"""

from __future__ import annotations

import contextlib
import operator
import weakref
from collections import Counter, defaultdict
from typing import Callable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map

from convbench.counting.layout import LayoutWatch
from convbench.counting.ops import (DATA_DEPENDENT, DATA_MOVEMENT, ELEMENTWISE_COST, is_conv, is_int8, mac_count,
                                    multiplies_weights, torch_macs)

__all__ = ["Tally", "backward_of", "needing_grad", "restored", "tally_pass"]

CONV_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
# A module's dicts whose entries a pass may change (hooks added, parameters swapped for ordinary copies).
_CONTENTS = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
             "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks", "_parameters", "_buffers")


_NAMES: dict = {}  # op -> "aten.name", as str() gives it (slow enough to matter once per op call)
_FRESH: dict = {}  # op overload -> the positions of its outputs that are new storage (not views or in place)


class Tally(TorchDispatchMode):
    """Per module: MACs, element ops, bytes; and the ops no table entry covers, the int8 MACs, and the
    ops that make the count hold for this input only."""

    def __init__(self, conv_module_names: set[str], weights: set[int]):
        super().__init__()
        self.stack: list[str] = []
        self.conv_module_names = conv_module_names
        self.weights = weights  # storages of parameters and buffers: reading one with .item() is not data
        self.rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.calls: Counter = Counter()
        self.uncounted: Counter = Counter()
        self.data_dependent: Counter = Counter()
        self.functional_conv_macs = 0
        self.int8_macs = 0
        self.paused = False
        self.backward = False  # in the backward pass: its MACs are counted apart, per op
        self.backward_macs: Counter = Counter()
        self.recomputed_macs = 0  # the backward's ops run inside a module's forward: checkpointing
        self.backward_gaps: Counter = Counter()
        self.flop_counter_gap: Counter = Counter()  # FlopCounterMode's MACs minus ours, per op
        self.compare_torch = False  # record flop_counter_gap in the forward too
        self.live_bytes = 0  # storages the counted ops allocated that are still alive
        self.peak_live_bytes = 0
        self.saved_bytes = 0  # what autograd keeps for the backward, beyond parameters and inputs
        self.saved_storages: set[int] = set()
        self.input_storages: set[int] = set()
        self.alive: dict = {}  # weak reference to a storage an op allocated -> its bytes
        self.op_log: list[tuple[str, str, int, int]] | None = None  # a list: (module, op, MACs, bytes moved) per call

    @contextlib.contextmanager
    def pause(self):
        """Ops run in the block are not the model's (a reference counter's hook): not counted."""
        self.paused, before = True, self.paused
        try:
            yield
        finally:
            self.paused = before

    def enter(self, name: str) -> None:
        self.calls[name] += 1
        self.stack.append(name)

    def leave(self) -> None:
        self.stack.pop()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.paused:
            return out
        self._allocated(func, out)
        packet = func._overloadpacket
        name = _NAMES.get(packet) or _NAMES.setdefault(packet, str(packet))
        if self.backward:
            self._backward_op(packet, name, args, kwargs, out)
            return out
        owner = self.stack[-1] if self.stack else ""
        row = self.rows[owner]
        macs = mac_count(packet, args, kwargs, out)
        if self.compare_torch:
            self._torch_gap(name, packet, args, kwargs, out, macs)
        row["macs"] += macs
        if macs and is_conv(packet) and owner not in self.conv_module_names:
            self.functional_conv_macs += macs
        if macs and is_int8(packet, args, kwargs):
            self.int8_macs += macs
        if (name in DATA_DEPENDENT and not self._reads_weights(args)) or _masks(name, args):
            self.data_dependent[name] += 1
        if packet in ELEMENTWISE_COST:
            row["elem_ops"] += ELEMENTWISE_COST[packet](args, kwargs, out)
        elif packet not in DATA_MOVEMENT and not macs:
            self.uncounted[name] += 1
        written = _bytes_written(func, out)
        row["activation_bytes"] += written
        moved = written + _bytes_read(args, kwargs) if written else 0  # a pure view reads and writes nothing
        row["bytes_moved"] += moved
        if self.op_log is not None:
            self.op_log.append((owner, name, macs, moved))
        return out

    def _allocated(self, func, out) -> None:
        """Follow each storage an op allocates until it is freed (its Python object is kept with
        the storage, so a weak reference to it dies when the memory goes back)."""
        fresh = _FRESH.get(func)
        if fresh is None:
            fresh = _FRESH[func] = tuple(i for i, r in enumerate(func._schema.returns) if r.alias_info is None)
        outputs = out if isinstance(out, (tuple, list)) else (out,)
        for i in fresh:
            value = outputs[i] if i < len(outputs) else None
            if not isinstance(value, torch.Tensor) or value.is_nested:
                continue
            try:
                storage = value.untyped_storage()
            except (RuntimeError, NotImplementedError):
                continue
            size = storage.nbytes()
            self.live_bytes += size
            self.peak_live_bytes = max(self.peak_live_bytes, self.live_bytes)
            self.alive[weakref.ref(storage, self._freed)] = size

    def _freed(self, reference) -> None:
        self.live_bytes -= self.alive.pop(reference, 0)

    def saved(self, tensor: torch.Tensor) -> torch.Tensor:
        """A saved-tensor pack hook: counts what the backward keeps that is not a weight or an input."""
        key = _storage(tensor)
        if key not in self.weights and key not in self.input_storages and key not in self.saved_storages:
            self.saved_storages.add(key)
            self.saved_bytes += tensor.untyped_storage().nbytes() if not tensor.is_nested else 0
        return tensor

    def _backward_op(self, packet, name: str, args, kwargs, out) -> None:
        macs = mac_count(packet, args, kwargs, out)
        self.backward_macs[name] += macs
        if self.stack:
            self.recomputed_macs += macs
        if not macs and multiplies_weights(name):
            self.backward_gaps[name] += 1
        self._torch_gap(name, packet, args, kwargs, out, macs)

    def _torch_gap(self, name: str, packet, args, kwargs, out, macs: int) -> None:
        theirs = torch_macs(packet, args, kwargs, out) or 0
        if theirs != macs:
            self.flop_counter_gap[name] += theirs - macs

    def _reads_weights(self, args) -> bool:
        tensors = [a for a in args if isinstance(a, torch.Tensor) and not a.is_nested]
        return bool(tensors) and all(_storage(t) in self.weights for t in tensors)


def _masks(name: str, args) -> bool:
    """``x[mask]``: indexing with a boolean mask keeps as many elements as the mask has True."""
    return name == "aten.index" and len(args) > 1 and any(
        isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in args[1] or ())


def _storage(tensor: torch.Tensor) -> int:
    try:
        return tensor.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        return -1


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


def _scripted(module: nn.Module) -> bool:
    return isinstance(module, torch.jit.ScriptModule)


@contextlib.contextmanager
def restored(module: nn.Module, values: bool = True):
    """Run the block on ``module`` and put it back as it was: each submodule's attributes (its
    training flag, what a reference counter adds), the entries of its hook, parameter and buffer
    dicts, its parameters' ``.grad``, and with ``values`` its buffers' values (batch-norm
    statistics a training-mode pass updates; an eval-mode pass of torch's own layers changes none)."""
    saved, kept, gradients = [], [], []
    for sub in module.modules():
        if _scripted(sub):
            saved.append((sub, getattr(sub, "training", None), None, None))  # a frozen one has no flag
            continue
        state = sub.__dict__
        contents = {key: dict(value) for key in _CONTENTS if (value := state.get(key))}
        saved.append((sub, sub.training, dict(state), contents))
        gradients += [(p, p.grad) for p in sub._parameters.values() if p is not None]
        if values:
            kept += [(b, b.clone()) for b in sub._buffers.values() if b is not None and not b.is_inference()]
    try:
        yield module
    finally:
        for sub, training, attributes, contents in saved:
            if attributes is None:
                if training is not None:
                    sub.training = training
                continue
            state = sub.__dict__
            for key in state.keys() - attributes.keys():
                del state[key]
            state.update(attributes)
            for key in _CONTENTS:  # only the non-empty ones were copied
                current, entries = state.get(key), contents.get(key, {})
                if current and (current.keys() != entries.keys()
                                or not all(map(operator.is_, current.values(), entries.values()))):
                    current.clear()
                    current.update(entries)
                elif current is not None and not current and entries:
                    current.update(entries)
        for parameter, gradient in gradients:  # a counted backward fills .grad
            parameter.grad = gradient
        with torch.no_grad():
            for buffer, value in kept:  # batch norm writes its statistics in place, without a version bump
                buffer.copy_(value)


def set_mode(module: nn.Module, training: bool) -> None:
    """``module.train(training)``, where the module still has a mode: a frozen TorchScript module
    and ``torch.export``'s module run as they were made, and only in eval mode here."""
    if not hasattr(module, "training"):
        if training:
            raise ValueError("a frozen TorchScript module has no training mode: count it with training=False")
        return
    try:
        module.train(training)
    except NotImplementedError:  # torch.export(...).module(): its graph was fixed at export
        if training:
            raise ValueError("torch.export's module cannot switch to training mode: count it with "
                             "training=False, or count the module before export") from None


def _ordinary(model: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Parameters, buffers and inputs made in ``torch.inference_mode()`` dispatch composite ops
    (``aten.linear``, ``aten.conv2d``) without decomposing them; ordinary copies count the same in
    any mode. (Inside :func:`restored`, which puts the originals back.)"""
    for sub in model.modules():
        if _scripted(sub):
            continue
        for name, param in sub._parameters.items():
            if param is not None and param.is_inference():
                sub._parameters[name] = nn.Parameter(param.detach().clone(), requires_grad=param.requires_grad)
        for name, buffer in sub._buffers.items():
            if buffer is not None and buffer.is_inference():
                sub._buffers[name] = buffer.clone()

    def plain(value):
        return value.clone() if isinstance(value, torch.Tensor) and value.is_inference() else value

    return tree_map(plain, (tuple(args), dict(kwargs)))


def tally_pass(module: nn.Module, args: tuple, kwargs: dict, watch: LayoutWatch,
               forward: Callable[[Callable[[], object], Tally], None] | None = None,
               backward: bool = False, input_grad: bool | None = False, log_ops: bool = False) -> Tally:
    """Count one ``module(*args, **kwargs)``; ``forward``, if given, is handed the call and the
    tally and makes the call (a reference counter whose hooks watch the same pass, paused in the
    tally). With ``backward``, then the backward of every output (its gradient all ones), with the
    float inputs' gradients too where ``input_grad``. ``log_ops`` keeps the forward's ops in order
    (``Tally.op_log``). Call inside :func:`restored`."""
    args, kwargs = _ordinary(module, args, kwargs)
    if backward:
        args, kwargs = needing_grad(args, kwargs, input_grad)
    named = list(module.named_modules())
    weights = {_storage(t) for _, sub in named for t in (*sub._parameters.values(), *sub._buffers.values())
               if isinstance(t, torch.Tensor)}
    tally = Tally({name for name, m in named if isinstance(m, CONV_MODULES)}, weights)
    tally.compare_torch = backward  # FlopCounterMode is compared on a training step
    tally.op_log = [] if log_ops else None
    tally.input_storages = {_storage(t) for t in (*args, *kwargs.values()) if isinstance(t, torch.Tensor)}
    watch.see("", module, args, kwargs)  # the root gets the inputs themselves
    handles = []
    for name, sub in named:
        if _scripted(sub):
            continue
        def entering(module, args, kwargs, name=name):
            tally.enter(name)
            if name:  # the root was seen with the caller's own inputs above
                watch.see(name, module, args, kwargs)

        handles.append(sub.register_forward_pre_hook(entering, with_kwargs=True))
        handles.append(sub.register_forward_hook(lambda m, a, o: tally.leave(), always_call=True))
    outputs = []
    try:
        saving = torch.autograd.graph.saved_tensors_hooks(tally.saved, lambda tensor: tensor)
        with torch.enable_grad() if backward else torch.no_grad(), saving:
            if forward is None:
                with tally:
                    outputs.append(module(*args, **kwargs))
            else:
                own_forward = module.forward  # bound before a rider swaps in its own

                def call():
                    with tally:
                        outputs.append(own_forward(*args, **kwargs))
                    return outputs[-1]
                forward(call, tally)
        if backward and outputs:  # the hooks stay: a checkpointed forward runs again in the backward
            tally.backward = True
            with tally:
                backward_of(outputs[0])
    finally:
        tally.backward = False
        for handle in handles:
            handle.remove()
    return tally


def needing_grad(args: tuple, kwargs: dict, input_grad: bool | None) -> tuple[tuple, dict]:
    """The inputs, the float ones asking for their gradient when ``input_grad`` (None: those the
    caller's ask for theirs), as copies: the caller's tensors are left alone."""
    def grad(value):
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not value.is_nested:
            return value.detach().requires_grad_(value.requires_grad if input_grad is None else input_grad)
        return value

    return tree_map(grad, (tuple(args), dict(kwargs)))


def backward_of(output) -> None:
    """The backward of every output that has a graph, each output's gradient all ones (a fill:
    no MACs)."""
    tensors = [t for t in tree_leaves(output) if isinstance(t, torch.Tensor) and t.requires_grad]
    if tensors:
        torch.autograd.backward(tensors, [torch.ones_like(t) for t in tensors])
