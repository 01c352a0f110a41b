"""Invalid combinations raise ValueError naming the parameter and what would be valid."""

from __future__ import annotations

import pytest
import torch

import convbench


@pytest.mark.parametrize(
    "call,words",
    [
        (lambda: convbench.build("group", 8, 16, 3, groups=3), ["groups=3", "valid groups: 1, 2, 4, 8"]),
        (lambda: convbench.build("ac", 6, 8, 3, groups=4), ["groups=4", "valid groups: 1, 2"]),
        (lambda: convbench.build("depthwise", 8, 12, 3), ["out_channels=12", "multiple of in_channels=8", "8, 16"]),
        (lambda: convbench.build("depthwise_shared", 8, 4, 3), ["out_channels=4", "8"]),
        (lambda: convbench.build("stft", 8, 8, 4), ["kernel_size=4", "must be odd", "3 or 5"]),
        (lambda: convbench.build("stft_reference", 8, 8, 2), ["kernel_size=2", "must be odd"]),
        (lambda: convbench.build("ac", 8, 8, 4), ["kernel_size=4", "must be odd"]),
        (lambda: convbench.build("xsep", 8, 8, 6), ["kernel_size=6", "must be odd"]),
        (lambda: convbench.build("xsep", 8, 8, 5, padding="up"), ["padding", "'tl'", "'symmetric'"]),
        (lambda: convbench.build("stft", 8, 8, 3, activation="tanh"), ["activation", "'abs'", "'relu'", "'none'"]),
        (lambda: convbench.build("octave", 8, 8, 3, alpha_in=1.0), ["alpha_in=1.0", "[0, 1)"]),
        (lambda: convbench.build("octave", 8, 8, 3, alpha_out=0.1), ["alpha_out=0.1", "0 low-frequency channels"]),
        (lambda: convbench.build("octave", 8, 8, 3, stride=3), ["stride=3", "1, 2"]),
        (lambda: convbench.example_inputs("octave", 1, 8, 7, 8), ["height=7", "divisible by 2", "6 or 8"]),
        (lambda: convbench.example_inputs("octave", 1, 8, 8, 10, stride=2), ["width=10", "divisible by 4", "8 or 12"]),
        (lambda: convbench.build("transposed", 8, 8, 4, stride=1), ["kernel_size=4", "stride=1"]),
        (lambda: convbench.build("transposed", 8, 8, 3, scale=2), ["unknown parameter 'scale'"]),
        (lambda: convbench.build("conv", 0, 8), ["in_channels", "positive integer"]),
        (lambda: convbench.build("conv", 8, 8, 3, stride=1.5), ["stride", "positive integer"]),
        (lambda: convbench.build("group", 8, 8, groups="4"), ["group: parameter 'groups' must be int"]),
        (lambda: convbench.build("group", 8, 8, groups=0), ["'groups' must be >= 1"]),
        (lambda: convbench.build("conv", 8, 8, 3, bias=1), ["'bias' must be bool"]),
        (lambda: convbench.build("group", 8, 8, grops=2), ["parameter 'grops'", "did you mean 'groups'"]),
        (lambda: convbench.build("octav", 8, 8), ["variant 'octav'", "did you mean 'octave'"]),
    ],
)
def test_invalid_input_raises_a_value_error_that_explains(call, words):
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_octave_checks_sizes_at_run_time_too():
    module = convbench.build("octave", 8, 8, 3)
    with pytest.raises(ValueError, match="height=9"):
        module(torch.randn(1, 4, 9, 8), torch.randn(1, 4, 4, 4))


def test_octave_rejects_the_wrong_number_of_inputs():
    with pytest.raises(ValueError, match="pair"):
        convbench.build("octave", 8, 8, 3)(torch.randn(1, 8, 8, 8))
    with pytest.raises(ValueError, match="one tensor"):
        convbench.build("octave", 8, 8, 3, alpha_in=0.0)(torch.randn(1, 8, 8, 8), torch.randn(1, 4, 4, 4))


@pytest.mark.parametrize("shape", [(0, 4, 8, 8), (1, 4, 0, 8), (1, 4, 8, 0)])
def test_count_of_an_empty_input_is_a_value_error(shape):
    with pytest.raises(ValueError, match="empty"):
        convbench.count(convbench.build("conv", 4, 4, 3), torch.zeros(shape))


def test_count_leaves_the_global_rng_as_it_found_it():
    module, x = convbench.build("ac", 4, 4, 3), torch.ones(1, 4, 8, 8)  # torchsummary draws random inputs
    torch.manual_seed(7)
    state = torch.get_rng_state()
    convbench.count(module, x)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_bad_thread_counts_raise(threads):
    with pytest.raises(ValueError, match="threads"):
        convbench.benchmark(convbench.build("conv", 4, 4, 3), torch.randn(1, 4, 8, 8), threads=threads, min_time=0.01)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_ac_fuse_keeps_dtype_and_device(dtype):
    block = convbench.build("ac", 4, 4, 3).to(dtype).eval()
    fused = block.fuse()
    assert fused.weight.dtype == dtype and fused.bias.dtype == dtype
    assert fused.weight.device == block.square[0].weight.device
    if dtype == torch.float64:
        x = torch.randn(1, 4, 8, 8, dtype=dtype)
        with torch.no_grad():
            assert torch.allclose(fused(x), block(x), atol=1e-10)


@pytest.mark.parametrize("inputs", [(), (torch.zeros(0, 4, 8, 8),), (torch.zeros(1, 4, 0, 8),)])
def test_timing_empty_inputs_is_a_value_error(inputs):
    module = convbench.build("conv", 4, 4, 3)
    with pytest.raises(ValueError, match="non-empty"):
        convbench.benchmark(module, *inputs, min_time=0.01)
    with pytest.raises(ValueError, match="non-empty"):
        convbench.compare(module, inputs, module, inputs, rounds=2, round_time=0.01)


def test_a_part_key_with_a_newline_is_named_on_one_line():
    """A key read from the file is quoted in the error, so the error stays one line (found by the
    results fuzzer: a runtime named "ÊÂÖ\\n" holding true)."""
    from convbench.store.validation import ResultsError, check_part

    for part in ({"backends": {"ÊÂÖ\n": False}}, {"timing": {"a\nb": "x"}}):
        try:
            check_part(part, "part")
        except ResultsError as error:
            assert "\n" not in str(error) and "\\n" in str(error), str(error)
        else:
            raise AssertionError(f"{part} was read")
