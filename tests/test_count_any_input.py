"""Counting whatever a model takes: per sequence where a layer takes its batch at dim 1, tensors of
any rank, keyword inputs, TorchScript and quantized modules, and counts that hold for one input
only; each against a closed form or torch's own FlopCounterMode."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import convbench
from convbench.counting.ops import multiplies_weights
from tests.counting import counted_macs

T, B, IN, H = 50, 4, 16, 32
GATES = {nn.LSTM: 4, nn.GRU: 3, nn.RNN: 1}


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
def test_a_sequence_first_recurrent_layer_counts_per_sequence(cls):
    cost = convbench.count(cls(IN, H), torch.randn(T, B, IN))
    assert cost.macs == T * GATES[cls] * H * (IN + H)  # every weight once per time step
    assert (cost.per, cost.batch, cost.batch_dim) == ("sequence", B, 1)
    assert "batch_first=False" in cost.batch_source


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
def test_batch_first_and_sequence_first_give_the_same_figure(cls):
    torch.manual_seed(0)
    first = convbench.count(cls(IN, H, batch_first=True), torch.randn(B, T, IN), reference_counters=False)
    second = convbench.count(cls(IN, H), torch.randn(T, B, IN), reference_counters=False)
    assert first.macs == second.macs and first.batch == second.batch == B


def test_ptflops_is_fed_one_sequence_and_its_division_is_named():
    """ptflops takes len(input) for the batch: one sequence, sequence-first, is T long there."""
    cost = convbench.count(nn.LSTM(IN, H, bias=False), torch.randn(T, B, IN))
    assert f"divides by the input's first dim ({T})" in cost.check
    assert "MACs missing" not in cost.check


def test_an_unbatched_sequence_is_one_sequence():
    cost = convbench.count(nn.LSTM(IN, H), torch.randn(T, IN), reference_counters=False)
    assert (cost.batch, cost.batch_dim, cost.per) == (1, None, "sequence")
    assert cost.macs == T * 4 * H * (IN + H)


def test_a_sequence_first_attention_layer_counts_per_sequence():
    embed, length = 32, 12
    cost = convbench.count(nn.MultiheadAttention(embed, 4), *(torch.randn(length, B, embed),) * 3,
                           reference_counters=False)
    assert cost.batch_dim == 1 and cost.batch == B
    assert cost.macs == 4 * length * embed * embed + 2 * length * length * embed


class Tagger(nn.Module):
    """Token ids (L, N) into a sequence-first encoder: the batch is dim 1 of the ids too."""

    def __init__(self, vocab=100, embed=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        layer = nn.TransformerEncoderLayer(embed, 4, 64, dropout=0.0)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    def forward(self, ids, mask=None):
        return self.encoder(self.embed(ids), src_key_padding_mask=mask)


def encoder_closed_form(lengths: list[int], embed=32, ffn=64, layers=2) -> int:
    """Per layer: 4 E^2 + 2 E F per token, and L^2 E for each of Q K^T and A V per sequence."""
    return layers * sum(n * (4 * embed * embed + 2 * embed * ffn) + 2 * n * n * embed for n in lengths)


def test_token_ids_into_a_sequence_first_encoder_count_per_sequence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cost = convbench.count(Tagger(), torch.randint(0, 100, (10, B)))
    assert (cost.batch, cost.batch_dim, cost.per) == (B, 1, "sequence")
    assert "'encoder'" in cost.batch_source
    assert cost.macs == encoder_closed_form([10])
    assert cost.kmac_per_pixel is None and cost.pixels is None


def test_a_padding_mask_on_the_nested_tensor_path_counts_the_tokens_it_computes():
    """nn.TransformerEncoder's default fast path packs the unpadded tokens into a nested tensor."""
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, dropout=0.0)
    model = nn.TransformerEncoder(layer, 2).eval()
    lengths = [10, 7, 3, 7]
    mask = torch.arange(10).expand(4, 10) >= torch.tensor(lengths)[:, None]
    cost = convbench.count(model, torch.randn(4, 10, 32), kwargs={"src_key_padding_mask": mask})
    assert cost.macs * 4 == encoder_closed_form(lengths)
    assert any(op.startswith("aten._nested_tensor_from_mask") for op in cost.data_dependent_ops)
    assert "ptflops: failed" not in cost.check  # it is passed the mask by name


def test_a_given_batch_dim_must_agree_with_the_layer_that_takes_the_input():
    with pytest.raises(ValueError, match="batch_dim=0, but the model takes its batch at dim 1"):
        convbench.count(nn.LSTM(IN, H), torch.randn(T, B, IN), batch_dim=0)
    with pytest.raises(ValueError, match="not a dimension"):
        convbench.count(nn.Linear(4, 4), torch.randn(2, 4), batch_dim=5)
    assert convbench.count(nn.Linear(4, 4), torch.randn(3, 2, 4), batch_dim=1).batch == 2


@pytest.mark.parametrize("shape,model,macs", [
    ((8, 20), nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5)), 20 * 64 + 64 * 5),
    ((8, 3, 40), nn.Conv1d(3, 6, 5, bias=False), 6 * 3 * 5 * 36),
    ((2, 3, 4, 8, 8), nn.Conv3d(3, 5, 3, padding=1, bias=False), 5 * 3 * 27 * 4 * 8 * 8),
    ((8, IN), nn.LSTMCell(IN, H), 4 * H * (IN + H)),
])
def test_inputs_of_any_rank_count_per_sample(shape, model, macs):
    cost = convbench.count(model, torch.randn(*shape))
    assert cost.macs == macs and cost.batch == shape[0] and cost.per == "sample"
    assert cost.kmac_per_pixel is None
    if not isinstance(model, nn.LSTMCell):
        assert cost.macs == counted_macs(model, (torch.randn(*shape),))


def test_keyword_inputs_count_as_positional_ones():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(8, 4, bias=False), nn.Linear(6, 4, bias=False)

        def forward(self, x, *, side):
            return self.a(x) + self.b(side)

    x, side = torch.randn(3, 8), torch.randn(3, 6)
    cost = convbench.count(TwoInputs(), x, kwargs={"side": side})
    assert cost.macs == 8 * 4 + 6 * 4 and cost.batch == 3
    assert cost.macs_ptflops is not None  # ptflops got both, by name


@pytest.mark.parametrize("compile_", [torch.jit.script, lambda m: torch.jit.trace(m, torch.randn(1, 3, 12, 12))])
def test_torchscript_modules_count_like_the_eager_one(compile_):
    eager = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.ReLU(), nn.Conv2d(8, 4, 1, bias=False))
    x = torch.randn(2, 3, 12, 12)
    cost = convbench.count(compile_(eager), x)
    assert cost.macs == counted_macs(eager, (x,)) and cost.params == 8 * 27 + 4 * 8
    assert "TorchScript" in cost.check


def _quantize_dynamic(model, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=dtype)


def test_a_dynamically_quantized_linear_counts_int8_macs():
    model = _quantize_dynamic(nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8)), torch.qint8)
    cost = convbench.count(model, torch.randn(5, 16))
    assert cost.macs == cost.macs_int8 == 16 * 32 + 32 * 8
    assert cost.params == 16 * 32 + 32 + 32 * 8 + 8  # the packed weights and biases


def test_a_float16_dynamic_linear_counts_macs_that_are_not_int8():
    cost = convbench.count(_quantize_dynamic(nn.Sequential(nn.Linear(16, 32)), torch.float16), torch.randn(5, 16),
                           reference_counters=False)
    assert cost.macs == 16 * 32 and cost.macs_int8 == 0


class Quantizable(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant, self.dequant = torch.ao.quantization.QuantStub(), torch.ao.quantization.DeQuantStub()
        self.conv = nn.Conv2d(4, 8, 3, groups=2)
        self.linear = nn.Linear(8, 3)

    def forward(self, x):
        return self.dequant(self.linear(self.conv(self.quant(x)).mean((2, 3))))


def test_a_statically_quantized_network_counts_its_float_formula_in_int8():
    float_model = Quantizable().eval()
    model = copy.deepcopy(float_model)
    model.qconfig = torch.ao.quantization.get_default_qconfig("x86")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = torch.ao.quantization.prepare(model)
        prepared(torch.randn(4, 4, 10, 10))
        quantized = torch.ao.quantization.convert(prepared)
    x = torch.randn(2, 4, 10, 10)
    cost = convbench.count(quantized, x, reference_counters=False)
    convs = 8 * 2 * 9 * 8 * 8  # C_out x C_in/groups x k^2 x H_out x W_out
    assert cost.macs == cost.macs_int8 == convs + 8 * 3
    assert cost.data_dependent_ops == ()  # QuantStub reads its own scale with .item(): not data


@pytest.mark.parametrize("op", ["aten.upsample_linear1d", "aten.upsample_trilinear3d", "aten.cummax",
                                "aten.linalg_vector_norm", "aten.addcmul", "aten.mmnot"])
def test_an_op_is_weight_multiplying_by_its_exact_name_only(op):
    assert not multiplies_weights(op)


@pytest.mark.parametrize("op", ["aten.mm", "aten.linear", "aten.addmm", "aten.convolution", "aten.lstm",
                                "quantized.linear_dynamic", "aten._scaled_dot_product_flash_attention_for_cpu"])
def test_the_weight_multiplying_ops_are_named(op):
    assert multiplies_weights(op)


def test_interpolation_and_a_running_max_are_not_blamed_on_a_missing_mac_formula():
    class Upsample(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 4, 3, bias=False)

        def forward(self, x):
            y = F.interpolate(self.conv(x), scale_factor=2, mode="linear")
            return torch.cummax(y, dim=-1).values

    cost = convbench.count(Upsample(), torch.randn(2, 4, 16))
    assert "no MAC formula" not in cost.check
    assert "no element-op count for aten.cummax" in cost.check
    assert cost.macs == 4 * 4 * 3 * 14


class FunctionalAttention(nn.Module):
    """Swin's pattern: the qkv Linear's weight used with F.linear, so its forward never runs, and a
    parameter that is neither .weight nor .bias."""

    def __init__(self, dim=32):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(7, 4))

    def forward(self, x):
        q, k, v = F.linear(x, self.qkv.weight, self.qkv.bias).chunk(3, dim=-1)
        return self.proj(F.scaled_dot_product_attention(q, k, v))


def test_torchsummary_undercounting_functional_weights_is_blamed_on_hooks_that_never_fired():
    model = nn.Sequential(nn.Linear(32, 32), FunctionalAttention())
    cost = convbench.count(model, torch.randn(2, 10, 32))
    qkv, table = 32 * 96 + 96, 28
    assert cost.params_torchsummary == cost.params - qkv - table
    assert f"-{qkv:,} in modules whose forward never ran" in cost.check and "1.qkv" in cost.check
    assert f"-{table} not in a hooked submodule's .weight or .bias" in cost.check
    assert "reused" not in cost.check and "not explained" not in cost.check


@pytest.mark.parametrize("forward,flagged", [
    (lambda x: x[x > 0].sum(), "aten.index"),
    (lambda x: torch.nonzero(x).float().sum(), "aten.nonzero"),
    (lambda x: x * 2 if x.sum().item() > 0 else x, "aten._local_scalar_dense"),
    (lambda x: x.topk(3, dim=-1).values, None),
    (lambda x: torch.relu(x), None),
])
def test_a_count_that_depends_on_the_data_says_so(forward, flagged):
    class Model(nn.Module):
        def forward(self, x):
            return forward(x)

    cost = convbench.count(Model(), torch.randn(2, 8), reference_counters=False)
    assert [op.split(" x ")[0] for op in cost.data_dependent_ops] == ([flagged] if flagged else [])


def test_counting_makes_no_copy_of_the_module_and_leaves_no_trace(monkeypatch):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    attributes = [set(vars(m)) for m in model.modules()]
    deepcopy = copy.deepcopy

    def no_module_copies(value, *args, **kwargs):
        if isinstance(value, nn.Module):
            pytest.fail("counting deep-copied the module")
        return deepcopy(value, *args, **kwargs)

    monkeypatch.setattr(copy, "deepcopy", no_module_copies)
    convbench.count(model, torch.randn(2, 3, 8, 8), training=True,
                    reference_counters=convbench.counting.ALL_REFERENCES)
    assert [set(vars(m)) for m in model.modules()] == attributes  # ptflops' counters and hooks removed
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN statistics kept
    assert not model.training and not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_a_reference_counter_that_fails_leaves_torch_as_it_was():
    """ptflops 0.7.5 wraps torch.nn.functional while it runs, and on a traced module failed
    without unwrapping it, so that every later ptflops count failed."""
    relu, matmul = F.relu, torch.matmul
    eager = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.ReLU())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(eager, torch.randn(1, 3, 12, 12))
    convbench.count(traced, torch.randn(2, 3, 12, 12), reference_counters=convbench.counting.ALL_REFERENCES)
    assert F.relu is relu and torch.matmul is matmul
    assert convbench.count(eager, torch.randn(1, 3, 12, 12)).macs_ptflops is not None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=5), st.integers(1, 6))
def test_any_rank_counts_per_sample_what_flop_counter_counts_in_all(shape, outputs):
    """A linear layer on the last dim of an input of any rank: per sample times the samples is
    FlopCounterMode's total (FLOPs / 2); the batch is dim 0, or one sample for a 1-D input."""
    x = torch.randn(*shape)
    model = nn.Linear(shape[-1], outputs, bias=False)
    cost = convbench.count(model, x)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    samples = shape[0] if len(shape) > 1 else 1
    assert cost.batch == samples and cost.macs * samples == counter.get_total_flops() // 2
    assert cost.per == ("image" if len(shape) == 4 else "sample")
    if len(shape) > 1:  # ptflops, fed one sample, agrees: a bias-free linear layer has nothing else to count
        assert cost.macs_ptflops == cost.macs
