"""The timer's mechanics and statistics. Nothing here asserts how fast anything is: timings are
measured in benchmarks/, on a quiet machine, and compared side by side."""

from __future__ import annotations

import random

import pytest
import torch

import convbench
from convbench.timing import NOISY, Timing, compare_readings

FAST = dict(min_time=0.01, max_time=0.05, warmup_time=0.0)


def small_conv():
    return convbench.build("conv", 4, 4, 3), torch.randn(1, 4, 8, 8)


def test_benchmark_reports_its_statistics_and_settings():
    module, x = small_conv()
    timing = convbench.benchmark(module, x, threads=1, **FAST)
    assert timing.runs == len(timing.times_ms) >= 1
    assert timing.calls_per_run >= 1
    assert timing.median_ms > 0 and timing.iqr_ms >= 0
    assert timing.noisy == (timing.iqr_ms / timing.median_ms > NOISY)
    assert (timing.device, timing.dtype, timing.memory_format, timing.mode, timing.threads) == (
        "cpu", "float32", "contiguous", "inference", 1)
    assert timing.method == "torch.utils.benchmark"
    assert timing.allocator in ("retained", "system")
    assert timing.peak_memory_bytes is None and timing.cudnn_benchmark is None
    assert "ms" in str(timing) and "median of" in str(timing)


def test_benchmark_leaves_the_module_and_threads_as_they_were():
    module = convbench.build("ac", 4, 4, 3).train()
    state = {k: v.clone() for k, v in module.state_dict().items()}
    threads = torch.get_num_threads()
    convbench.benchmark(module, torch.randn(2, 4, 8, 8), threads=1, training=True, dtype="bfloat16", **FAST)
    assert torch.get_num_threads() == threads
    assert all(m.training for m in module.modules())
    assert all(p.grad is None and p.dtype == torch.float32 for p in module.parameters())
    for key, value in module.state_dict().items():
        assert torch.equal(value, state[key]), key


@pytest.mark.parametrize("options", [
    {"training": True},
    {"memory_format": "channels_last"},
    {"dtype": "bfloat16"},
])
def test_benchmark_options_run_and_are_recorded(options):
    timing = convbench.benchmark(*small_conv(), threads=1, **options, **FAST)
    assert timing.mode == ("training" if options.get("training") else "inference")
    assert timing.memory_format == options.get("memory_format", "contiguous")
    assert timing.dtype == options.get("dtype", "float32")


def test_training_mode_times_forward_and_backward_of_a_multi_output_layer():
    module = convbench.build("octave", 8, 8, 3)
    inputs = convbench.example_inputs("octave", 1, 8, 8, 8)
    assert convbench.benchmark(module, *inputs, training=True, threads=1, **FAST).mode == "training"


@pytest.mark.parametrize("options,message", [
    ({"dtype": "float64"}, "dtype='float64'"),
    ({"memory_format": "nhwc"}, "memory_format='nhwc'"),
    ({"cold": True}, "CUDA only"),
    ({"device": "tpu"}, "cpu or cuda"),
    ({"cuda_timer": "wall"}, "cuda_timer='wall'"),
])
def test_bad_settings_raise(options, message):
    with pytest.raises(ValueError, match=message):
        convbench.benchmark(*small_conv(), **options, **FAST)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="cuda"):
        convbench.benchmark(*small_conv(), device="cuda", **FAST)


def test_compare_runs_interleaved_rounds():
    module, x = small_conv()
    result = convbench.compare(module, (x,), convbench.build("depthwise", 4, 4, 3), (x,),
                               rounds=4, round_time=0.01, threads=1, warmup_time=0.0)
    assert result.rounds == len(result.round_ratios) == 4
    assert result.ratio == pytest.approx(result.variant.median_ms / result.baseline.median_ms)
    assert result.ratio_low <= result.ratio_high
    assert 0 <= result.p_value <= 1
    with pytest.raises(ValueError, match="rounds"):
        convbench.compare(module, (x,), module, (x,), rounds=1)


def _timing(times):
    ordered = sorted(times)
    median = ordered[len(ordered) // 2]
    return Timing(median_ms=median, iqr_ms=0.0, runs=len(times), calls_per_run=1, noisy=False,
                  device="cpu", dtype="float32", memory_format="contiguous", mode="inference",
                  method="synthetic", times_ms=list(times))


def _rounds(centre, spread, n=10, seed=0):
    rng = random.Random(seed)
    return [centre * (1 + rng.uniform(-spread, spread)) for _ in range(n)]


def test_a_clear_speed_up_is_significant():
    fast, slow = _rounds(1.0, 0.02, seed=1), _rounds(2.0, 0.02, seed=2)
    result = compare_readings(_timing(fast), _timing(slow), fast, slow)
    assert result.significant and result.ratio == pytest.approx(0.5, rel=0.05)
    assert "faster" in result.verdict("a", "b")


def test_the_same_distribution_is_not_significant():
    a, b = _rounds(1.0, 0.1, seed=3), _rounds(1.0, 0.1, seed=4)
    result = compare_readings(_timing(a), _timing(b), a, b)
    assert not result.significant and "not significant" in result.verdict()


def test_a_three_percent_difference_on_a_noisy_machine_is_noise():
    a, b = _rounds(1.03, 0.15, seed=5), _rounds(1.0, 0.15, seed=6)
    result = compare_readings(_timing(a), _timing(b), a, b)
    assert not result.significant


def test_a_consistent_but_tiny_difference_is_below_the_minimum_effect():
    a, b = _rounds(1.03, 0.001, seed=7), _rounds(1.0, 0.001, seed=8)
    result = compare_readings(_timing(a), _timing(b), a, b)
    assert result.p_value < result.alpha and not result.significant


def test_run_metadata_records_what_a_timing_depends_on():
    meta = convbench.run_metadata(threads=2)
    for key in ("torch", "cuda", "cudnn", "device_name", "cpu_model", "threads", "dtype", "memory_format",
                "convbench_version", "git_commit", "date", "host", "allocator"):
        assert key in meta
    assert meta["threads"] == 2 and meta["torch"] == torch.__version__
