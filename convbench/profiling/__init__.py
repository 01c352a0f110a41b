"""Where a call's time goes: a runtime's own profiler read op by op
(:meth:`convbench.backends.Runtime.profile`), joined with each op's counted MACs and bytes
(:mod:`convbench.profiling.join`), with a line on what dominates (:mod:`convbench.profiling.why`).

Profiling perturbs what it reads (a range per op, hooks per module), so it never runs on a timed
call: the runtime prepares a copy of the module for it, and its end-to-end time is reported next
to the timed latency, which shows the overhead."""

from __future__ import annotations

import torch
from torch import nn

from convbench import backends
from convbench.counting.per_op import op_costs
from convbench.profiling.join import OpRow, ProfileTable, by_module, joined
from convbench.profiling.why import DOMINANT, why

CALLS = 20  # profiled calls, after WARMUP more
WARMUP = 3

__all__ = ["CALLS", "DOMINANT", "OpRow", "ProfileTable", "WARMUP", "by_module", "joined", "profile_module", "why"]


def profile_module(spec: str, module: nn.Module, inputs: tuple[torch.Tensor, ...], threads: int,
                   device: str | torch.device = "cpu", calls: int = CALLS, warmup: int = WARMUP) -> ProfileTable:
    """``module(*inputs)`` in eval mode profiled on runtime ``spec`` at ``threads`` threads, joined
    with its counted ops (the module's mode and torch's thread count are put back);
    :class:`~convbench.backends.CannotProfile` (one line) where the runtime cannot."""
    if calls < 1 or warmup < 0:
        raise ValueError(f"calls={calls} must be >= 1 and warmup={warmup} >= 0")
    runtime = backends.runtime(spec)
    device = torch.device(device)
    previous, training = torch.get_num_threads(), module.training
    module.eval()
    try:
        profile = runtime.profile(module, tuple(inputs), threads, device, calls, warmup)
        return joined(profile, op_costs(module, *inputs))
    finally:
        torch.set_num_threads(previous)
        module.train(training)
