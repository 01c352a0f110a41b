"""The variant registry: name -> spec (builder, parameters, closed-form cost, description, paper).

Every variant is a drop-in replacement for ``nn.Conv2d(in_channels, out_channels, kernel_size,
stride)`` unless its spec says otherwise. The registry imports no variant: the built-ins register
themselves when ``convbench`` imports ``convbench.variants``; users add their own with
:func:`register_variant`.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

__all__ = [
    "FormulaCost",
    "LayerShape",
    "Param",
    "VariantSpec",
    "build",
    "example_inputs",
    "get_variant",
    "register_variant",
    "variant_names",
]


@dataclass(frozen=True)
class Param:
    """One parameter of a variant: its name, default, type and what values are valid.

    ``open_choice`` marks a choice the paper leaves open; the default is convbench's pick.
    """

    name: str
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    below: float | None = None  # exclusive upper bound
    open_choice: bool = False

    @property
    def type(self) -> type:
        return type(self.default)

    def validate(self, value: Any, variant: str) -> Any:
        where = f"{variant}: parameter '{self.name}'"
        expected = self.type
        if expected is bool:
            ok = isinstance(value, bool)
        elif expected is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif expected is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        else:
            ok = isinstance(value, expected)
        if not ok:
            raise ValueError(f"{where} must be {expected.__name__}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            valid = ", ".join(repr(c) for c in self.choices)
            raise ValueError(f"{where} must be one of {valid}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number, got {value!r}")
        in_range = (self.minimum is None or value >= self.minimum) and (self.below is None or value < self.below)
        if self.below is not None and not in_range:
            low = "-inf" if self.minimum is None else f"{self.minimum:g}"
            raise ValueError(f"{variant}: {self.name}={value!r} must be in [{low}, {self.below:g})")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{where} must be >= {self.minimum}, got {value!r}")
        return value


@dataclass(frozen=True)
class LayerShape:
    """The drop-in contract of one case: ``Conv2d(in, out, k, stride)`` on an ``H x W`` input."""

    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    height: int
    width: int

    def conv_output(self, dilation: int = 1) -> tuple[int, int]:
        """Output size of a conv with "same" padding ``dilation * (k - 1) // 2``."""
        pad = dilation * (self.kernel_size - 1) // 2
        span = dilation * (self.kernel_size - 1) + 1
        return (
            (self.height + 2 * pad - span) // self.stride + 1,
            (self.width + 2 * pad - span) // self.stride + 1,
        )


@dataclass(frozen=True)
class FormulaCost:
    """A variant's closed-form cost, per image (batch 1), bias excluded from MACs.

    ``params`` counts learnable parameters; ``fixed_weights`` counts weights that take part in
    the computation but are not learned (the STFT bases), and ``macs_fixed`` the MACs they do.
    ``macs_backward`` is a training step's backward with the input's gradient needed (as inside a
    network): each conv's input gradient and weight gradient cost its forward MACs, and fixed
    weights have no gradient.
    """

    params: int
    macs: int
    fixed_weights: int = 0
    macs_fixed: int = 0

    @property
    def macs_backward(self) -> int:
        return 2 * self.macs - self.macs_fixed


Builder = Callable[..., nn.Module]
CostFormula = Callable[[LayerShape, dict], FormulaCost]
InputMaker = Callable[..., tuple[torch.Tensor, ...]]


@dataclass(frozen=True)
class VariantSpec:
    """Everything convbench knows about one variant."""

    name: str
    builder: Builder
    description: str
    paper: str
    params: tuple[Param, ...] = ()
    cost_formula: CostFormula | None = None
    input_maker: InputMaker | None = None
    aliases: tuple[str, ...] = ()
    notes: str = ""
    drop_in: bool = True

    def resolve_params(self, given: dict[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``given``, each value validated; unknown names are an error."""
        known = {p.name: p for p in self.params}
        for name in given:
            if name not in known:
                raise ValueError(_unknown(f"parameter '{name}' for variant '{self.name}'", name, known))
        return {name: p.validate(given.get(name, p.default), self.name) for name, p in known.items()}

    def cost(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        height: int = 56,
        width: int | None = None,
        **params: Any,
    ) -> FormulaCost | None:
        """The closed-form params / fixed weights / MACs per image, or None if the spec has none."""
        if self.cost_formula is None:
            return None
        shape = LayerShape(in_channels, out_channels, kernel_size, stride, height,
                           height if width is None else width)
        return self.cost_formula(shape, self.resolve_params(params))


_REGISTRY: dict[str, VariantSpec] = {}
_ALIASES: dict[str, str] = {}


def register_variant(
    name: str,
    *,
    description: str,
    paper: str,
    params: tuple[Param, ...] | list[Param] = (),
    cost: CostFormula | None = None,
    inputs: InputMaker | None = None,
    aliases: tuple[str, ...] | list[str] = (),
    notes: str = "",
    drop_in: bool = True,
) -> Callable[[Builder], Builder]:
    """Register ``builder(in_channels, out_channels, kernel_size, stride, **params)`` as a variant.

    ``cost(shape, params) -> FormulaCost`` is the closed form the counters are checked against;
    ``inputs(batch, in_channels, height, width, stride=..., **params)`` makes the inputs when the
    variant does not take one ``batch x in_channels x height x width`` tensor. ``drop_in=False``
    marks a variant that cannot replace a conv inside a network (other inputs, outputs or sizes).
    """

    def decorator(builder: Builder) -> Builder:
        for key in (name, *aliases):
            if key in _REGISTRY or key in _ALIASES:
                raise ValueError(f"variant name '{key}' is already registered")
        _REGISTRY[name] = VariantSpec(
            name=name,
            builder=builder,
            description=description,
            paper=paper,
            params=tuple(params),
            cost_formula=cost,
            input_maker=inputs,
            aliases=tuple(aliases),
            notes=notes,
            drop_in=drop_in,
        )
        for alias in aliases:
            _ALIASES[alias] = name
        return builder

    return decorator


def unregister_variant(name: str) -> None:
    """Remove a variant (and its aliases) from the registry."""
    spec = _REGISTRY.pop(name)
    for alias in spec.aliases:
        _ALIASES.pop(alias, None)


def variant_names() -> list[str]:
    """Registered variant names (aliases not included), in registration order."""
    return list(_REGISTRY)


def get_variant(name: str) -> VariantSpec:
    """The spec for ``name`` or one of its aliases; a ValueError with a suggestion otherwise."""
    if not isinstance(name, str):
        raise ValueError(f"a variant name must be text, got {name!r}; choose one of {', '.join(_REGISTRY)}")
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        raise ValueError(_unknown(f"variant '{name}'", name, [*_REGISTRY, *_ALIASES]))
    return _REGISTRY[key]


def build(
    name: str,
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    **params: Any,
) -> nn.Module:
    """Build variant ``name`` as a drop-in for ``nn.Conv2d(in_channels, out_channels, kernel_size, stride)``."""
    spec = get_variant(name)
    _check_positive_int("in_channels", in_channels)
    _check_positive_int("out_channels", out_channels)
    _check_positive_int("kernel_size", kernel_size)
    _check_positive_int("stride", stride)
    return spec.builder(in_channels, out_channels, kernel_size, stride, **spec.resolve_params(params))


def example_inputs(
    name: str,
    batch: int,
    in_channels: int,
    height: int,
    width: int,
    *,
    stride: int = 1,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    seed: int = 0,
    **params: Any,
) -> tuple[torch.Tensor, ...]:
    """Seeded random inputs for variant ``name``: one ``batch x in_channels x height x width``
    tensor, or what the variant's own input maker returns (Octave: a ``(high, low)`` pair)."""
    spec = get_variant(name)
    for key, value in (("batch", batch), ("in_channels", in_channels), ("height", height),
                       ("width", width), ("stride", stride)):
        _check_positive_int(key, value)
    resolved = spec.resolve_params(params)
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype).to(device)

    if spec.input_maker is None:
        return (randn(batch, in_channels, height, width),)
    return spec.input_maker(randn, batch, in_channels, height, width, stride=stride, **resolved)


def _check_positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _unknown(what: str, name: str, valid) -> str:
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown {what}{hint} (valid: {', '.join(valid) if valid else 'none'})"
