"""What a network is fed: one tensor per input, of a given per-sample shape and dtype, with the
batch at the dimension the network takes it (0, or 1 for sequence-first layers), passed by
position or by name (``src_key_padding_mask=...``).

Inputs are made from a fixed seed, so every run feeds the same values: float inputs are standard
normal, integer ones (token ids) uniform in ``[0, high)``, boolean ones (padding masks) all False,
i.e. nothing padded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["DTYPES", "InputSpec", "KeywordCall", "make_inputs"]

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64,
          "int64": torch.int64, "int32": torch.int32, "bool": torch.bool}
SEED = 0


@dataclass(frozen=True)
class InputSpec:
    """One input: its per-sample ``shape``, ``dtype`` (a key of :data:`DTYPES`), the dimension of
    the full tensor the batch is at, the upper bound of integer values, and its keyword (None:
    passed by position)."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    batch_dim: int = 0
    high: int | None = None
    name: str | None = None

    def full_shape(self, batch: int) -> tuple[int, ...]:
        shape = list(self.shape)
        shape.insert(self.batch_dim, batch)
        return tuple(shape)

    def label(self, batch: int) -> str:
        text = "x".join(map(str, self.full_shape(batch)))
        if self.dtype != "float32":
            text += f" {self.dtype}"
        return f"{self.name}={text}" if self.name else text

    def make(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        shape, dtype = self.full_shape(batch), DTYPES[self.dtype]
        if dtype == torch.bool:
            return torch.zeros(shape, dtype=dtype)
        if not dtype.is_floating_point:
            return torch.randint(0, self.high, shape, generator=generator, dtype=dtype)
        return torch.randn(shape, generator=generator).to(dtype)


def make_inputs(specs: tuple[InputSpec, ...], batch: int) -> tuple[tuple[torch.Tensor, ...], dict[str, torch.Tensor]]:
    """The positional and keyword tensors the specs describe, from a fixed seed."""
    generator = torch.Generator().manual_seed(SEED)
    made = [(spec.name, spec.make(batch, generator)) for spec in specs]
    return tuple(t for name, t in made if name is None), {name: t for name, t in made if name is not None}


class KeywordCall(nn.Module):
    """``model`` called with its keyword inputs from positional ones, for the runtimes, which
    pass inputs by position: ``KeywordCall(model, 1, ("mask",))(x, m)`` runs ``model(x, mask=m)``."""

    def __init__(self, model: nn.Module, positional: int, names: tuple[str, ...]):
        super().__init__()
        self.model = model
        self.positional = positional
        self.names = names

    def split(self, inputs: tuple) -> tuple[tuple, dict]:
        return tuple(inputs[:self.positional]), dict(zip(self.names, inputs[self.positional:]))

    def forward(self, *inputs):
        args, kwargs = self.split(inputs)
        return self.model(*args, **kwargs)
