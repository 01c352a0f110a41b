"""Inputs as models take them: a list of tensors, a dict, a PackedSequence; and the module forms
torch makes (``torch.export(...).module()``, ``jit.freeze(jit.script(m))``): each counted against
its closed form, or refused in one true line."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_sequence

import convbench

CIN, COUT, K, SIDE, BATCH = 3, 4, 3, 8, 2
CONV = COUT * CIN * K * K * (SIDE - K + 1) ** 2  # one image through the conv


class Pyramid(nn.Module):
    """A list of images through one conv (a feature pyramid's shared head)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(CIN, COUT, K, bias=False)

    def forward(self, images):
        return [self.conv(x) for x in images]


class FromDict(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(CIN, COUT, K, bias=False)

    def forward(self, batch):
        return self.conv(batch["image"])


def _images():
    return torch.randn(BATCH, CIN, SIDE, SIDE)


def test_a_list_of_tensors_is_counted_per_image():
    """ptflops, fed one image of each, divides by the list's length (its ``len(input)``): named."""
    cost = convbench.count(Pyramid(), [_images(), _images()], reference_counters=("ptflops",))
    assert (cost.batch, cost.per, cost.macs) == (BATCH, "image", 2 * CONV)
    assert "images" in cost.batch_source
    assert cost.macs_ptflops == CONV
    assert convbench.count(Pyramid(), [_images(), _images()]).check.startswith(
        f"ptflops: divides by the input list's length (2), which is not the batch: x 2 = {2 * CONV:,}")


def test_a_dict_input_is_counted_per_image():
    cost = convbench.count(FromDict(), {"image": _images(), "label": torch.tensor([1, 0])})
    assert (cost.batch, cost.per, cost.macs, cost.params) == (BATCH, "image", CONV, COUT * CIN * K * K)


def test_a_packed_sequence_counts_per_sequence_over_the_steps_it_holds():
    """Packed sequences of lengths 5 and 3: the LSTM runs 8 steps in all, 4 per sequence."""
    lstm = nn.LSTM(CIN, 6)
    packed = pack_sequence([torch.randn(5, CIN), torch.randn(3, CIN)])
    cost = convbench.count(lstm, packed, reference_counters=False)
    assert (cost.batch, cost.per) == (2, "sequence")
    assert cost.macs == 8 * 4 * 6 * (CIN + 6) / 2


def test_an_input_without_tensors_is_refused_saying_so():
    with pytest.raises(ValueError, match=r"^count\(\) found no tensor in the inputs given \(list\)"):
        convbench.count(Pyramid(), [1, 2])


def _conv():
    return nn.Sequential(nn.Conv2d(CIN, COUT, K, bias=False)).eval()


def test_an_exported_programs_module_counts_like_the_eager_one():
    exported = torch.export.export(_conv(), (_images(),)).module()
    cost = convbench.count(exported, _images(), reference_counters=False)
    assert (cost.macs, cost.params, cost.batch) == (CONV, COUT * CIN * K * K, BATCH)


def test_an_exported_programs_module_refuses_a_training_count_in_one_line():
    exported = torch.export.export(_conv(), (_images(),)).module()
    with pytest.raises(ValueError, match="export") as refused:
        convbench.count(exported, _images(), training=True, reference_counters=False)
    assert "\n" not in str(refused.value)


def test_a_frozen_torchscript_module_counts_its_macs_with_no_params_left():
    """Freezing folds parameters into constants: the MACs stay, the weights are no params any more."""
    frozen = torch.jit.freeze(torch.jit.script(_conv()))
    cost = convbench.count(frozen, _images())
    assert (cost.macs, cost.batch, cost.params) == (CONV, BATCH, 0)


class SumsEveryTensor(nn.Module):
    """Takes anything; adds up every float tensor it is given, times one learnable scale."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, *args, **kwargs):
        from torch.utils._pytree import tree_leaves

        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor) and t.is_floating_point()]
        return sum((t.sum() for t in tensors), torch.zeros(())) * self.scale


_leaves = st.one_of(
    st.builds(lambda shape: torch.randn(tuple(shape)), st.lists(st.integers(0, 3), max_size=4)),
    st.integers(-3, 3), st.text(max_size=3), st.none(), st.booleans(),
)
_nested = st.recursive(_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.tuples(inner, inner),
    st.dictionaries(st.text(min_size=1, max_size=4), inner, max_size=3)), max_leaves=6)


@settings(max_examples=60, deadline=None)
@given(inputs=st.lists(_nested, max_size=3), keywords=st.dictionaries(st.sampled_from(["a", "mask", "x"]), _nested,
                                                                       max_size=2))
def test_any_nesting_of_inputs_is_counted_or_refused_in_one_line(inputs, keywords):
    try:
        cost = convbench.count(SumsEveryTensor(), *inputs, kwargs=keywords, reference_counters=False)
    except ValueError as refused:
        assert "\n" not in str(refused) and str(refused)
        return
    assert cost.batch >= 1 and cost.macs == 0 and cost.params == 1
