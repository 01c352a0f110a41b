"""A training step's forward / backward split: statistics on synthetic rounds where the answer is
known, and a training-mode run that prints the split."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from convbench.cli import main
from convbench.suite.training_split import split_step
from convbench.timing.stats import mean_difference


def split_fields(*args):
    """The row columns of a split and its ratios."""
    split, ratios = split_step(*args)
    fields = split.columns()
    for columns, estimate in ratios.items():
        fields.update(columns.flatten(estimate))
    return fields


def test_a_constant_backward_is_exact():
    forward = [1.0, 1.4, 0.9, 1.2, 1.1]
    centre, low, high = mean_difference([f + 2.0 for f in forward], forward)
    assert centre == pytest.approx(2.0) and low == pytest.approx(2.0) and high == pytest.approx(2.0)


def test_the_backward_interval_is_students_t_on_the_per_round_differences():
    rng = random.Random(3)
    forward = [1 + rng.random() for _ in range(12)]
    step = [f + 2 + rng.gauss(0, 0.2) for f in forward]
    centre, low, high = mean_difference(step, forward, confidence=0.9)
    differences = np.subtract(step, forward)
    expected = stats.t.interval(0.9, len(differences) - 1, loc=differences.mean(), scale=stats.sem(differences))
    assert centre == pytest.approx(differences.mean())
    assert (low, high) == (pytest.approx(expected[0]), pytest.approx(expected[1]))


def test_the_split_of_synthetic_rounds_has_the_ratios_of_each_part():
    """Variant: forward half the baseline's, backward three times it, in every round."""
    base_forward = [1.0, 1.2, 0.8, 1.1, 0.9, 1.0]
    base_backward = [2.0, 2.2, 1.9, 2.1, 2.4, 2.0]
    variant_forward = [0.5 * f for f in base_forward]
    variant_backward = [3 * b for b in base_backward]
    rounds = [[f + b for f, b in zip(variant_forward, variant_backward)],
              [f + b for f, b in zip(base_forward, base_backward)], variant_forward, base_forward]
    session = SimpleNamespace(round_ms=rounds, round_process=[0] * 6)
    fields = split_fields(session, 0, 2, 1, 3, 0.95, 0.05)
    assert fields["latency_backward_ms"] == pytest.approx(3 * np.mean(base_backward))
    assert fields["forward_vs_baseline"] == pytest.approx(0.5) and fields["backward_vs_baseline"] == pytest.approx(3)
    assert fields["backward_ratio_low"] == pytest.approx(3) and fields["forward_ratio_high"] == pytest.approx(0.5)
    assert "forward_vs_baseline" not in split_fields(session, 1, 3, 1, 3, 0.95, 0.05)  # the baseline itself


def test_a_round_where_the_step_read_faster_than_its_forward_gives_no_backward_ratio():
    session = SimpleNamespace(round_ms=[[1.0, 3.0], [3.0, 3.0], [1.5, 1.0], [1.0, 1.0]], round_process=[0, 0])
    fields = split_fields(session, 0, 2, 1, 3, 0.95, 0.05)
    assert "backward_vs_baseline" not in fields and "forward_vs_baseline" in fields


def test_a_training_run_prints_the_split_and_the_backward_macs(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("name: t\ntiming: {min_time: 0.05, rounds: 5, min_span: 0, training: true, threads: 1, "
                    "warmup_time: 0.0}\nshapes: [{in_channels: 8, size: 8}]\nvariants: [conv, depthwise]\n")
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "o")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "step = forward" in result.output and "+ backward" in result.output and "(CI " in result.output
    assert "vs baseline: forward" in result.output
    rows = [json.loads(line)["row"] for line in (tmp_path / "o" / "results.jsonl").read_text().splitlines()
            if line.startswith('{"row"')]
    for row in rows:
        assert row["macs_backward"] == 2 * row["macs"] and row["peak_memory_bytes"] > 0


def test_show_training_puts_the_step_beside_the_formula_and_flop_counter():
    result = CliRunner().invoke(main, ["show", "depthwise", "--shape", "in=64,out=64,k=3,size=56", "--training"],
                                env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    forward = 64 * 9 * 56 * 56
    assert f"{3 * forward:,}" in result.output  # forward + backward, formula and count alike
    assert f"{forward + 64 * 64 * 9 * 56 * 56 + forward:,}" in result.output  # FlopCounterMode: the input gradient ungrouped


def test_an_optimizer_step_is_named_in_the_case_and_refused_outside_training(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("name: t\ntiming: {min_time: 0.05, rounds: 5, min_span: 0, training: true, optimizer: sgd, "
                    "threads: 1, warmup_time: 0.0}\nshapes: [{in_channels: 8, size: 8}]\nvariants: [conv]\n")
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "o"), "--json"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["rows"]
    assert row["mode"] == "training + SGD, lr 0.01, momentum 0.9" and row["latency_backward_ms"] is not None
    path.write_text("timing: {optimizer: adam}\nshapes: [{in_channels: 8, size: 8}]\nvariants: [conv]\n")
    refused = CliRunner().invoke(main, ["run", str(path), "--no-timing"])
    assert refused.exit_code == 2 and "timing.optimizer: an optimizer step is part of a training step" in refused.output


def test_the_timed_step_ends_with_the_update_on_its_own_copy():
    import torch

    import convbench
    from convbench.timing import PreparedCall, TimingSettings

    conv = convbench.build("conv", 4, 4, 3)
    before = conv.weight.detach().clone()
    prepared = PreparedCall(conv, (torch.randn(1, 4, 8, 8),), TimingSettings(training=True, optimizer="sgd"))
    timed = prepared.model.weight.detach().clone()
    prepared.call()
    assert not torch.equal(prepared.model.weight, timed)  # updated
    assert torch.count_nonzero(prepared.model.weight.grad) == 0  # and its gradients zeroed
    assert torch.equal(conv.weight, before) and conv.weight.grad is None  # the caller's module untouched


def test_compare_training_times_steps_and_refuses_runtimes_that_time_inference_only():
    result = CliRunner().invoke(main, ["compare", "depthwise", "--shape", "in=8,out=8,k=3,size=8", "--training",
                                       "--quick", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["label"]: row for row in json.loads(result.stdout)["rows"]}
    assert rows["depthwise"]["mode"] == "training" and rows["depthwise"]["latency_backward_ms"] is not None
    assert rows["depthwise"]["macs_backward"] == 2 * rows["depthwise"]["macs"]
    refused = CliRunner().invoke(main, ["compare", "depthwise", "--training", "--backend", "onnxruntime", "--quick"])
    assert refused.exit_code == 2 and "time inference only" in refused.output
