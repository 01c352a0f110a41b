"""Which dimension of a model's input holds its batch, so that a count is per image, per sequence or
per sample of the batch the model actually runs on.

A layer that takes sequences says where its batch is: ``batch_first`` on ``nn.LSTM`` / ``nn.GRU`` /
``nn.RNN`` / ``nn.MultiheadAttention`` / ``nn.Transformer`` (default False: ``(L, N, E)``, the
batch at dim 1), on the attention inside ``nn.TransformerEncoder(Layer)`` and
``nn.TransformerDecoder(Layer)``, or on any module with a boolean ``batch_first``. The first such
layer whose input still has the model input's leading dimensions (the input itself, or what an
embedding or a linear layer made of it) decides; otherwise the batch is dim 0. A 2-D input to a
recurrent or attention layer (1-D to a cell) is one unbatched sequence, and so is any 1-D (or 0-D)
input unless ``batch_dim=0`` says it is a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["BatchDimMismatch", "BatchLayout", "LayoutWatch", "one_sample"]


@dataclass(frozen=True)
class BatchLayout:
    """``size`` samples at ``dim`` of the first input (``dim`` None: one unbatched sample), each an
    ``unit`` (image, sequence or sample); ``source`` says what decided it."""

    dim: int | None
    size: int
    unit: str
    source: str

    def describe(self) -> str:
        where = "unbatched" if self.dim is None else f"batch of {self.size} at dim {self.dim}"
        return f"per {self.unit}: {where} ({self.source})"


class BatchDimMismatch(ValueError):
    """A ``batch_dim`` given that the layer taking the input contradicts; ``found`` is that layer's."""

    def __init__(self, found: BatchLayout, given: int):
        where = "no dim (unbatched)" if found.dim is None else f"dim {found.dim}"
        super().__init__(f"batch_dim={given}, but the model takes its batch at {where} ({found.source})")
        self.found = found


def declared_batch_first(module: nn.Module) -> bool | None:
    """Whether ``module`` takes its batch first, last-but-one, or (None) says nothing."""
    if isinstance(module, nn.RNNCellBase):
        return True
    if isinstance(module, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)):
        return module.self_attn.batch_first
    if isinstance(module, (nn.TransformerEncoder, nn.TransformerDecoder)) and len(module.layers):
        return module.layers[0].self_attn.batch_first
    batch_first = getattr(module, "batch_first", None)
    return batch_first if isinstance(batch_first, bool) else None


def _unbatched(module: nn.Module, tensor: torch.Tensor) -> bool:
    if isinstance(module, nn.RNNCellBase):
        return tensor.dim() == 1
    return tensor.dim() == 2


def _first_tensor(args, kwargs) -> torch.Tensor | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value
    return None


def _carries(tensor: torch.Tensor, model_input: torch.Tensor) -> bool:
    """Whether ``tensor`` still has the model input's leading dimensions (where a batch can be)."""
    if tensor is model_input:
        return True
    if tensor.is_nested or model_input.is_nested:
        return False
    lead = min(2, model_input.dim())
    return lead > 0 and tensor.dim() >= lead and tuple(tensor.shape[:lead]) == tuple(model_input.shape[:lead])


class LayoutWatch:
    """Sees each module's inputs as it is called (a forward pre-hook) until a sequence layer
    decides the layout of ``model_input``."""

    def __init__(self, model_input: torch.Tensor):
        self.model_input = model_input
        self.found: BatchLayout | None = None

    def see(self, name: str, module: nn.Module, args, kwargs) -> None:
        if self.found is not None:
            return
        batch_first = declared_batch_first(module)
        tensor = _first_tensor(args, kwargs)
        if batch_first is None or tensor is None or not _carries(tensor, self.model_input):
            return
        what = f"{type(module).__name__} '{name or '(root)'}'"
        if _unbatched(module, tensor):
            self.found = BatchLayout(None, 1, "sequence" if not isinstance(module, nn.RNNCellBase) else "sample",
                                     f"{what} takes one unbatched {tensor.dim()}-D input")
            return
        dim = 0 if batch_first else 1
        unit = "sample" if isinstance(module, nn.RNNCellBase) else "sequence"
        self.found = BatchLayout(dim, int(self.model_input.shape[dim]), unit,
                                 f"{what}: batch_first={batch_first}")

    def layout(self, given: int | None) -> BatchLayout:
        """The layout seen, checked against the ``batch_dim`` the caller gave (None: not given)."""
        x = self.model_input
        if self.found is not None:
            if given is not None and given != self.found.dim:
                raise BatchDimMismatch(self.found, given)
            return self.found
        if x.dim() == 0 or (x.dim() == 1 and given is None):
            return BatchLayout(None, 1, "sample", f"a {x.dim()}-D input is one sample"
                                                  + (" (batch_dim=0 if it is a batch)" if x.dim() else ""))
        dim = 0 if given is None else given
        if not -x.dim() <= dim < x.dim():
            raise ValueError(f"batch_dim={given} is not a dimension of the first input (shape {tuple(x.shape)})")
        dim %= x.dim()
        unit = "image" if x.dim() == 4 and dim == 0 else "sample"
        source = "given" if given is not None else "dim 0: no sequence layer says otherwise"
        return BatchLayout(dim, int(x.shape[dim]), unit, source)


def one_sample(layout: BatchLayout, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """The inputs cut to one sample of the batch: each tensor at the batch's dim where it has the
    batch's size there, else at dim 0 where it has it there (a padding mask is batch-first even
    when the sequence is not), else whole."""
    if layout.dim is None or layout.size == 1:
        return args, kwargs

    def cut(value):
        if not isinstance(value, torch.Tensor) or value.is_nested:
            return value
        for dim in dict.fromkeys((layout.dim, 0)):
            if value.dim() > dim and value.shape[dim] == layout.size:
                return value.narrow(dim, 0, 1)
        return value

    return tuple(cut(a) for a in args), {k: cut(v) for k, v in kwargs.items()}
