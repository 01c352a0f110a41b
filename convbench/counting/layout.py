"""Which input, and which dimension of it, holds a model's batch, so that a count is per image,
per sequence, per bag or per sample of the batch the model actually runs on.

A layer that takes sequences says where its batch is: ``batch_first`` on ``nn.LSTM`` / ``nn.GRU`` /
``nn.RNN`` / ``nn.MultiheadAttention`` / ``nn.Transformer`` (default False: ``(L, N, E)``, the
batch at dim 1), on the attention inside ``nn.TransformerEncoder(Layer)`` and
``nn.TransformerDecoder(Layer)``, or on any module with a boolean ``batch_first``. The first such
layer whose input still has an input's leading dimensions (the input itself, or what an
embedding or a linear layer made of it) decides; a ``PackedSequence`` holds its sequences' count.
An ``nn.EmbeddingBag`` given 1-D indices and offsets runs one bag per offset.

Otherwise the batch is dim 0 of the inputs of two or more dimensions. Where they disagree there
(a conditioning tensor broadcast over the batch), the one the first conv, linear, embedding or
sequence layer takes decides; with no such layer the count is refused. 0-D and 1-D inputs (a
diffusion timestep) do not decide it when another input does. A 2-D input to a recurrent or
attention layer (1-D to a cell) is one unbatched sequence, and so is a model's only 1-D (or 0-D)
input unless ``batch_dim=0`` says it is a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._pytree import tree_map

__all__ = ["BatchDimMismatch", "BatchLayout", "LayoutWatch", "one_sample"]


@dataclass(frozen=True)
class BatchLayout:
    """``size`` samples at ``dim`` of input ``at`` (an index into the input tensors, positional
    ones first; ``dim`` None: one unbatched sample), each an ``unit`` (image, sequence, bag or
    sample); ``source`` says what decided it. ``cuttable`` is False where one sample cannot be cut
    from the inputs by a slice (bags of 1-D indices)."""

    dim: int | None
    size: int
    unit: str
    source: str
    at: int = 0
    cuttable: bool = True

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


WEIGHT_LAYERS = (nn.modules.conv._ConvNd, nn.Linear, nn.Bilinear, nn.Embedding, nn.EmbeddingBag,
                 nn.RNNBase, nn.RNNCellBase, nn.MultiheadAttention)


def _weight_layer(module: nn.Module) -> bool:
    """A conv, linear, embedding or sequence layer, float or quantized (whose packed weight is a method)."""
    return isinstance(module, WEIGHT_LAYERS) or (type(module).__module__.startswith("torch.ao.nn")
                                                 and callable(getattr(module, "weight", None)))


def _unbatched(module: nn.Module, tensor: torch.Tensor) -> bool:
    if isinstance(module, nn.RNNCellBase):
        return tensor.dim() == 1
    return tensor.dim() == 2


def _first_tensor(args, kwargs) -> torch.Tensor | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value
    return None


def _offsets(args, kwargs) -> torch.Tensor | None:
    value = args[1] if len(args) > 1 else kwargs.get("offsets")
    return value if isinstance(value, torch.Tensor) else None


def _carries(tensor: torch.Tensor, model_input: torch.Tensor) -> bool:
    """Whether ``tensor`` still has the model input's leading dimensions (where a batch can be)."""
    if tensor is model_input:
        return True
    if tensor.is_nested or model_input.is_nested:
        return False
    lead = min(2, model_input.dim())
    return lead > 0 and tensor.dim() >= lead and tuple(tensor.shape[:lead]) == tuple(model_input.shape[:lead])


class LayoutWatch:
    """Sees each module's inputs as it is called (a forward pre-hook): which model input the first
    weight layer takes, and the layout a sequence layer or a bag layer declares.

    ``inputs`` are the model's input tensors, named (``input 0`` or a keyword), positional first."""

    def __init__(self, inputs: list[tuple[str, torch.Tensor]]):
        self.inputs = inputs
        self.found: BatchLayout | None = None
        self.reached: int | None = None

    def _carried(self, tensor: torch.Tensor) -> int | None:
        """The input ``tensor`` is, else the first whose leading dimensions it still has."""
        for at, (_, model_input) in enumerate(self.inputs):
            if tensor is model_input:
                return at
        return next((at for at, (_, x) in enumerate(self.inputs) if _carries(tensor, x)), None)

    def see(self, name: str, module: nn.Module, args, kwargs) -> None:
        if self.found is not None:
            return
        packed = args[0] if args and isinstance(args[0], nn.utils.rnn.PackedSequence) else None
        tensor = packed.data if packed is not None else _first_tensor(args, kwargs)
        at = None if tensor is None else self._carried(tensor)
        if at is None:
            return
        what = f"{type(module).__name__} '{name or '(root)'}'"
        if packed is not None:
            sequences = int(packed.batch_sizes[0])
            self.found = BatchLayout(0, sequences, "sequence", f"{what} takes a PackedSequence of {sequences}",
                                     at, False)
            return
        if name and self.reached is None and _weight_layer(module):
            self.reached = at
        offsets = _offsets(args, kwargs) if isinstance(module, nn.EmbeddingBag) and tensor.dim() == 1 else None
        if offsets is not None:
            bags = offsets.numel() - int(module.include_last_offset)
            self.found = BatchLayout(0, bags, "bag", f"{what}: 1-D indices in {bags} bags (offsets)", at, False)
            return
        batch_first = declared_batch_first(module)
        if batch_first is None:
            return
        model_input = self.inputs[at][1]
        if _unbatched(module, tensor):
            self.found = BatchLayout(None, 1, "sequence" if not isinstance(module, nn.RNNCellBase) else "sample",
                                     f"{what} takes one unbatched {tensor.dim()}-D input", at)
            return
        dim = 0 if batch_first else 1
        unit = "sample" if isinstance(module, nn.RNNCellBase) else "sequence"
        self.found = BatchLayout(dim, int(model_input.shape[dim]), unit, f"{what}: batch_first={batch_first}", at)

    def layout(self, given: int | None) -> BatchLayout:
        """The layout seen, checked against the ``batch_dim`` the caller gave (None: not given)."""
        if self.found is not None:
            if given is not None and given != self.found.dim:
                raise BatchDimMismatch(self.found, given)
            return self.found
        at, note = self._batched_input(given)
        name, x = self.inputs[at]
        if x.dim() == 0 or (x.dim() == 1 and given is None):
            return BatchLayout(None, 1, "sample", f"a {x.dim()}-D input is one sample"
                                                  + (" (batch_dim=0 if it is a batch)" if x.dim() else ""), at)
        dim = 0 if given is None else given
        if not -x.dim() <= dim < x.dim():
            raise ValueError(f"batch_dim={given} is not a dimension of {name} (shape {tuple(x.shape)})")
        dim %= x.dim()
        unit = "image" if x.dim() == 4 and dim == 0 else "sample"
        source = "given" if given is not None else "dim 0: no sequence layer says otherwise"
        if len(self.inputs) > 1:
            source = f"{source}; of {name}{note}"
        return BatchLayout(dim, int(x.shape[dim]), unit, source, at)

    def _batched_input(self, given: int | None) -> tuple[int, str]:
        """Which input holds the batch, and why when the inputs disagree."""
        if given is not None:
            return (self.reached if self.reached is not None else 0), ""
        batched = [at for at, (_, x) in enumerate(self.inputs) if not x.is_nested and x.dim() >= 2]
        if not batched:
            return (self.reached if self.reached is not None else 0), ""
        sizes = {int(self.inputs[at][1].shape[0]) for at in batched}
        if len(sizes) == 1:
            return (self.reached if self.reached in batched else batched[0]), ""
        shapes = ", ".join(f"{self.inputs[at][0]} {tuple(self.inputs[at][1].shape)}" for at in batched)
        if self.reached in batched:
            return self.reached, f", which the first weight layer takes (inputs disagree at dim 0: {shapes})"
        raise ValueError(f"cannot tell the batch: the inputs disagree at dim 0 ({shapes}) and no conv, linear, "
                         "embedding or sequence layer takes one of them")


def one_sample(layout: BatchLayout, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """The inputs cut to one sample of the batch: each tensor at the batch's dim where it has the
    batch's size there, else at dim 0 where it has it there (a padding mask is batch-first even
    when the sequence is not), else whole."""
    if layout.dim is None or layout.size == 1 or not layout.cuttable:
        return args, kwargs

    def cut(value):
        if not isinstance(value, torch.Tensor) or value.is_nested:
            return value
        for dim in dict.fromkeys((layout.dim, 0)):
            if value.dim() > dim and value.shape[dim] == layout.size:
                return value.narrow(dim, 0, 1)
        return value

    return tree_map(cut, (tuple(args), dict(kwargs)))
