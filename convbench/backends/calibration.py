"""What every int8 runtime is calibrated on: post-training static quantization observes the ranges
of a fixed set of inputs of the case's own shape before it picks its scales, so the same seed gives
every runtime the same calibration set, and the timed input is not one of them."""

from __future__ import annotations

import torch

SAMPLES = 16
SEED = 0


def calibration_set(inputs: tuple[torch.Tensor, ...], samples: int = SAMPLES,
                    seed: int = SEED) -> list[tuple[torch.Tensor, ...]]:
    """``samples`` inputs like ``inputs``: floating ones drawn from the standard normal (as the
    registry's example inputs are) by a generator seeded with ``seed``; others (ids, masks) kept."""
    generator = torch.Generator().manual_seed(seed)
    return [tuple(torch.randn(t.shape, generator=generator, dtype=t.dtype) if t.is_floating_point() else t
                  for t in inputs) for _ in range(samples)]


def report(scheme: str, samples: int = SAMPLES, seed: int = SEED) -> dict:
    """The row fields that say how a case was quantized."""
    return {"int8_scheme": scheme,
            "int8_calibration": f"{samples} standard-normal inputs of the case's shape, seed {seed}"}
