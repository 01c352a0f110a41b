"""Quantized modules count the params and MACs of the float module they replace: fused static
ones (``fuse_modules``, ``convert_fx``) and dynamic recurrent ones (``quantize_dynamic`` on LSTM,
GRU and their cells), each against the closed form of the float layers."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn
from torch.ao import quantization as tq

import convbench

CIN, COUT, K, SIDE, HIDDEN, IN = 3, 8, 3, 6, 32, 16


class ConvHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.conv, self.relu = nn.Conv2d(CIN, COUT, K), nn.ReLU()
        self.fc, self.fc_relu = nn.Linear(COUT * (SIDE - K + 1) ** 2, 10), nn.ReLU()

    def forward(self, x):
        x = self.relu(self.conv(self.quant(x)))
        return self.dequant(self.fc_relu(self.fc(x.flatten(1))))


OUT_PIXELS = (SIDE - K + 1) ** 2
PARAMS = COUT * CIN * K * K + COUT + COUT * OUT_PIXELS * 10 + 10
MACS = COUT * CIN * K * K * OUT_PIXELS + COUT * OUT_PIXELS * 10


def _eager_fused():
    model = ConvHead().eval()
    fused = tq.fuse_modules(model, [["conv", "relu"], ["fc", "fc_relu"]])
    fused.qconfig = tq.get_default_qconfig("fbgemm")
    prepared = tq.prepare(fused)
    prepared(torch.randn(4, CIN, SIDE, SIDE))
    return tq.convert(prepared)


def _fx_converted():
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    example = (torch.randn(4, CIN, SIDE, SIDE),)
    prepared = prepare_fx(ConvHead().eval(), tq.get_default_qconfig_mapping("fbgemm"), example)
    prepared(*example)
    return convert_fx(prepared)


@pytest.mark.parametrize("build", [_eager_fused, _fx_converted], ids=["fuse_modules", "convert_fx"])
def test_fused_quantized_modules_count_the_float_layers_params_and_macs(build):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build()
        kinds = {type(m).__name__ for m in model.modules()}
        cost = convbench.count(model, torch.randn(2, CIN, SIDE, SIDE), reference_counters=False)
    assert {"ConvReLU2d", "LinearReLU"} <= kinds
    assert cost.params == PARAMS and cost.fixed_weights == 0  # a quantizer's scale is not a weight
    assert cost.macs == cost.macs_int8 == MACS


GATES = {nn.LSTM: 4, nn.GRU: 3, nn.LSTMCell: 4, nn.GRUCell: 3, nn.RNNCell: 1}


def _recurrent_macs(cls, layers: int, directions: int, steps: int) -> int:
    gates, total, width = GATES[cls], 0, IN
    for _ in range(layers):
        total += directions * gates * HIDDEN * (width + HIDDEN)
        width = HIDDEN * directions
    return steps * total


def _recurrent_params(cls, layers: int, directions: int) -> int:
    gates, total, width = GATES[cls], 0, IN
    for _ in range(layers):
        total += directions * gates * HIDDEN * (width + HIDDEN + 2)
        width = HIDDEN * directions
    return total


@pytest.mark.parametrize("dtype", [torch.qint8, torch.float16], ids=["int8", "float16"])
@pytest.mark.parametrize("cls, layers, bidirectional", [
    (nn.LSTMCell, 1, False), (nn.GRUCell, 1, False), (nn.RNNCell, 1, False),
    (nn.LSTM, 1, False), (nn.LSTM, 2, True), (nn.GRU, 2, True),
])
def test_dynamic_recurrent_layers_count_their_float_formula(cls, layers, bidirectional, dtype):
    cell = cls in (nn.LSTMCell, nn.GRUCell, nn.RNNCell)
    layer = cls(IN, HIDDEN) if cell else cls(IN, HIDDEN, num_layers=layers, bidirectional=bidirectional)
    steps, batch = (1, 4) if cell else (5, 4)
    x = torch.randn(batch, IN) if cell else torch.randn(steps, batch, IN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = tq.quantize_dynamic(nn.Sequential(copy.deepcopy(layer)), {cls}, dtype=dtype)
        cost = convbench.count(model, x, reference_counters=False)
    directions = 2 if bidirectional else 1
    assert type(model[0]).__module__.startswith("torch.ao.nn.quantized.dynamic")
    assert cost.params == _recurrent_params(cls, layers, directions) == convbench.count(layer, x).params
    assert cost.macs == _recurrent_macs(cls, layers, directions, steps)
    assert cost.macs_int8 == (cost.macs if dtype == torch.qint8 else 0)
    assert cost.uncounted_ops == ()
