"""One backward rule for every layer kind: a step's backward counts the gradients the step needs
(weights that learn, inputs that need a gradient, hidden states that reach them), not whatever a
fused kernel computes. Checked against torch's FlopCounterMode on the same step with the fused
oneDNN LSTM kernel turned off, where autograd runs (and the counter sees) each product it needs."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import convbench

IN, HIDDEN = 8, 12


def _flop_counter_step_macs(module: nn.Module, x: torch.Tensor, input_grad: bool) -> int:
    """Forward + backward MACs (FLOPs / 2) of one step as torch's own counter sees it."""
    x = x.clone().requires_grad_(input_grad)
    with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter:
        out = module(x)[0]
        out.backward(torch.ones_like(out))
    return counter.get_total_flops() // 2


@settings(max_examples=30, deadline=None)
@given(cls=st.sampled_from([nn.LSTM, nn.GRU]), steps=st.integers(1, 6), batch=st.integers(1, 4),
       layers=st.integers(1, 2), bidirectional=st.booleans(), input_grad=st.booleans(),
       frozen_first=st.booleans())
def test_recurrent_backward_counts_what_the_step_needs(cls, steps, batch, layers, bidirectional, input_grad,
                                                      frozen_first):
    torch.manual_seed(0)
    module = cls(IN, HIDDEN, num_layers=layers, bidirectional=bidirectional)
    if frozen_first:
        module.weight_ih_l0.requires_grad_(False)
    x = torch.randn(steps, batch, IN)
    cost = convbench.count(module, x, training=True, backward=True, input_grad=input_grad, reference_counters=False)
    module.zero_grad()
    assert (cost.macs + cost.macs_backward) * batch == _flop_counter_step_macs(module, x, input_grad)


def test_a_first_lstm_layer_without_an_input_gradient_skips_it_by_its_closed_form():
    """Weight gradients (W_ih and W_hh once per step), hidden-state gradients (W_hh per step but
    the first), and the input gradient (W_ih per step) only when asked for."""
    steps, batch = 5, 3
    w_ih, w_hh = 4 * HIDDEN * IN, 4 * HIDDEN * HIDDEN
    x = torch.randn(steps, batch, IN)
    needed = {grad: convbench.count(nn.LSTM(IN, HIDDEN), x, training=True, backward=True, input_grad=grad,
                                    reference_counters=False).macs_backward * batch for grad in (False, True)}
    without = steps * batch * (w_ih + w_hh) + (steps - 1) * batch * w_hh
    assert needed == {False: without, True: without + steps * batch * w_ih}


class Stem(nn.Module):
    """A conv stem then a conv block: the stem's input gradient is the one a training step of the
    whole network never needs."""

    def __init__(self, checkpointed: bool = False):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.ReLU())
        self.checkpointed = checkpointed

    def forward(self, x):
        x = self.stem(x)
        if self.checkpointed:
            return torch.utils.checkpoint.checkpoint(self.block, x, use_reentrant=False)
        return self.block(x)


SIDE = 6
STEM, BLOCK = 3 * 8 * 9 * SIDE * SIDE, 8 * 8 * 9 * SIDE * SIDE


def test_a_network_counted_by_default_trains_as_it_does_without_its_first_input_gradient():
    """Data needs no gradient: the default leaves the stem's input gradient out, as a training
    step does; an input that requires grad (a layer inside a network) gets it."""
    x = torch.randn(2, 3, SIDE, SIDE)
    as_trained = convbench.count(Stem(), x, backward=True, training=True, reference_counters=False)
    inside = convbench.count(Stem(), x.clone().requires_grad_(), backward=True, training=True,
                             reference_counters=False)
    assert as_trained.macs_backward == 2 * BLOCK + STEM  # weight gradients of both, input gradient of the block
    assert inside.macs_backward == 2 * (BLOCK + STEM)
    assert convbench.count(Stem(), x, backward=True, input_grad=True, reference_counters=False).macs_backward \
        == inside.macs_backward


def test_checkpointing_recomputes_its_block_in_the_backward_and_says_how_much():
    x = torch.randn(2, 3, SIDE, SIDE)
    plain = convbench.count(Stem(), x, backward=True, training=True, reference_counters=False)
    checkpointed = convbench.count(Stem(checkpointed=True), x, backward=True, training=True,
                                   reference_counters=False)
    assert checkpointed.macs == plain.macs == STEM + BLOCK
    assert (plain.macs_recomputed, checkpointed.macs_recomputed) == (0, BLOCK)
    assert checkpointed.macs_backward == plain.macs_backward + checkpointed.macs_recomputed
