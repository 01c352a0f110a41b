"""Counting helpers for the tests: torch's own FlopCounterMode, which sees functional convs."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode


def counted_macs(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    """MACs per image: FlopCounterMode's FLOPs (2 per MAC) over the batch."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(*inputs)
    flops = counter.get_total_flops()
    batch = inputs[0].shape[0]
    assert flops % (2 * batch) == 0
    return flops // (2 * batch)


def learnable_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def as_list(output) -> list[torch.Tensor]:
    return list(output) if isinstance(output, tuple) else [output]
