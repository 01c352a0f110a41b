"""The timer's mechanics and statistics. Nothing here asserts how fast anything is: timings are
measured in benchmarks/, on a quiet machine, and compared side by side."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import convbench
from convbench.timing import time_session
from convbench.timing.stats import paired_ratio

FAST = dict(min_time=0.01, max_time=0.05, warmup_time=0.0)


def small_conv():
    return convbench.build("conv", 4, 4, 3), torch.randn(1, 4, 8, 8)


def test_benchmark_reports_its_statistics_and_settings():
    module, x = small_conv()
    timing = convbench.benchmark(module, x, threads=1, **FAST)
    assert timing.runs == len(timing.times_ms) >= 1
    assert timing.calls_per_run >= 1
    assert timing.median_ms > 0 and timing.iqr_ms >= 0
    assert timing.iqr_ms == pytest.approx(float(np.subtract(*np.percentile(timing.times_ms, [75, 25]))), rel=1e-9)
    assert timing.median_ms == pytest.approx(float(np.median(timing.times_ms)), rel=1e-9)
    assert (timing.device, timing.dtype, timing.memory_format, timing.mode, timing.threads) == (
        "cpu", "float32", "contiguous", "inference", 1)
    assert timing.method == "torch.utils.benchmark"
    assert timing.allocator in ("retained", "system")
    output, columns, reordered = 4 * 64 * 4, 4 * 9 * 64 * 4, (4 * 64 + 4 * 4 * 9) * 4
    assert timing.peak_memory_bytes - output in (0, columns, reordered)  # the CPU peak: output + the kernel's workspace
    assert timing.cudnn_benchmark is None
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


def test_compare_runs_interleaved_rounds_and_its_ratio_is_the_latencies_ratio():
    module, x = small_conv()
    result = convbench.compare(convbench.build("depthwise", 4, 4, 3), (x,), module, (x,),
                               rounds=4, round_time=0.01, threads=1, warmup_time=0.0)
    assert result.rounds == len(result.round_ratios) == 4
    assert result.ratio == pytest.approx(result.variant_ms / result.baseline_ms, rel=1e-12)
    expected = paired_ratio(result.round_ratios, [1.0] * len(result.round_ratios))  # the interval of these rounds
    assert (result.ratio_low, result.ratio_high, result.verdict) == (pytest.approx(expected.low, rel=1e-9),
                                                                     pytest.approx(expected.high, rel=1e-9),
                                                                     expected.verdict)
    assert result.contention is not None and result.contention.wall_s > 0
    with pytest.raises(ValueError, match="rounds"):
        convbench.compare(module, (x,), module, (x,), rounds=1)


def test_a_session_reads_every_module_once_per_round_in_changing_order():
    module, x = small_conv()
    entries = [(module, (x,)), (convbench.build("depthwise", 4, 4, 3), (x,)), (convbench.build("group", 4, 4, 3), (x,))]
    rounds_seen = []
    session = time_session(entries, rounds=5, round_time=0.005, threads=1, warmup_time=0.0,
                           on_round=lambda r, total: rounds_seen.append((r, total)))
    assert rounds_seen == [(r, 5) for r in range(1, 6)]
    assert [len(r) for r in session.round_ms] == [5, 5, 5]
    assert [len(c) for c in session.contention] == [5, 5, 5]
    assert session.round_process == [0] * 5
    for i in range(3):
        assert session.latency_ms(i) == pytest.approx(math.exp(sum(map(math.log, session.round_ms[i])) / 5))


def test_round_order_rotates_and_reverses():
    from convbench.timing.session import _round_order

    orders = [_round_order(3, r) for r in range(6)]
    assert all(sorted(o) == [0, 1, 2] for o in orders)
    assert {o[0] for o in orders} == {0, 1, 2}  # no module is always read first
    assert _round_order(2, 0) == [0, 1] and _round_order(2, 1) == [1, 0]


def test_rounds_spread_over_fresh_processes_are_labelled_by_process():
    module, x = small_conv()
    result = convbench.compare(convbench.build("depthwise", 4, 4, 3), (x,), module, (x,), rounds=4,
                               round_time=0.005, threads=1, warmup_time=0.0, processes=2)
    assert result.estimate.replicates == 2 and result.rounds == 4
    assert result.variant.processes == 2


@pytest.mark.parametrize("processes", [0, -1, 1.5, True])
def test_bad_process_counts_raise(processes):
    module, x = small_conv()
    with pytest.raises(ValueError, match="processes"):
        time_session([(module, (x,))], rounds=2, processes=processes)


def test_benchmark_records_contention():
    timing = convbench.benchmark(*small_conv(), threads=1, **FAST)
    assert timing.contention is not None and timing.contention.wall_s > 0
    assert timing.contention.cores >= 0


@pytest.mark.parametrize("bad", [{"min_time": math.inf}, {"min_time": -1.0}, {"min_time": 1.0, "max_time": 0.5},
                                 {"max_time": math.nan}])
def test_benchmark_refuses_times_that_cannot_end(bad):
    with pytest.raises(ValueError, match="min_time"):
        convbench.benchmark(*small_conv(), **{**FAST, **bad})


def test_run_metadata_records_what_a_timing_depends_on():
    meta = convbench.run_metadata(threads=2)
    for key in ("torch", "cuda", "cudnn", "device_name", "cpu_model", "threads", "dtype", "memory_format",
                "convbench_version", "git_commit", "date", "host", "allocator"):
        assert key in meta
    assert meta["threads"] == 2 and meta["torch"] == torch.__version__
