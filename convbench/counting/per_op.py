"""Each op a forward runs, in order, with the module that ran it and its MACs and bytes moved:
what a profile's per-op times are joined with (:mod:`convbench.profiling.join`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from convbench.counting.layout import LayoutWatch
from convbench.counting.tally import restored, set_mode, tally_pass


@dataclass(frozen=True)
class OpCost:
    """One op call of a forward, for the whole batch (not per sample): ``module`` is the dotted
    name of the innermost module running it (``""`` the model itself), ``op`` its ATen name at
    dispatch (``aten.convolution``), ``macs`` as :func:`~convbench.counting.count` counts them and
    ``bytes_moved`` its tensor inputs plus outputs (a view moves nothing)."""

    module: str
    op: str
    macs: int
    bytes_moved: int


def op_costs(module: nn.Module, *inputs) -> list[OpCost]:
    """The ops of one ``module(*inputs)`` in eval mode, in the order they ran."""
    tensors = [(f"input {i}", t) for i, t in enumerate(inputs) if isinstance(t, torch.Tensor)]
    if not tensors:
        raise ValueError("op_costs() found no tensor in the inputs given")
    with torch.inference_mode(False), restored(module, values=False):
        set_mode(module, False)
        tally = tally_pass(module, tuple(inputs), {}, LayoutWatch(tensors), log_ops=True)
    return [OpCost(owner, name, int(macs), int(moved)) for owner, name, macs, moved in tally.op_log]
