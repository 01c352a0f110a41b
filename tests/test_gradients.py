"""Gradients reach every learnable parameter and never the fixed STFT bases."""

from __future__ import annotations

import pytest
import torch

import convbench
from tests.counting import as_list



@pytest.mark.parametrize("name", convbench.variant_names())
@pytest.mark.parametrize("stride", [1, 2])
def test_gradients_reach_every_parameter(name, stride):
    has_bias = any(p.name == "bias" for p in convbench.get_variant(name).params)
    module = convbench.build(name, 8, 16, 3, stride, **({"bias": True} if has_bias else {})).train()
    inputs = tuple(t.requires_grad_() for t in convbench.example_inputs(name, 2, 8, 8, 8, stride=stride))
    loss = sum((out * torch.randn_like(out)).sum() for out in as_list(module(*inputs)))
    loss.backward()
    for param_name, param in module.named_parameters():
        assert param.grad is not None, param_name
        assert param.grad.abs().sum() > 0, param_name
    for buffer_name, buffer in module.named_buffers():
        assert not buffer.requires_grad and buffer.grad is None, buffer_name
    assert all(t.grad is not None for t in inputs)


@pytest.mark.parametrize("name", ["stft", "stft_reference"])
def test_training_leaves_the_stft_bases_unchanged(name):
    module = convbench.build(name, 4, 8, 3)
    before = module.basis.clone()
    optimiser = torch.optim.SGD(module.parameters(), lr=0.1)
    for _ in range(3):
        optimiser.zero_grad()
        module(torch.randn(2, 4, 8, 8)).square().mean().backward()
        optimiser.step()
    assert torch.equal(module.basis, before)
    assert [n for n, _ in module.named_parameters()] == ["pointwise.weight"]
