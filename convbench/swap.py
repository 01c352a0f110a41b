"""Whole networks: replace the convs of any model with a variant, built for each conv's channels,
kernel and stride."""

from __future__ import annotations

import copy
from typing import Any, Callable

from torch import nn

from convbench.registry import build, get_variant

ConvFilter = Callable[[nn.Conv2d], bool]


def default_target(conv: nn.Conv2d) -> bool:
    """Every dense spatial conv: kernel > 1 and groups == 1."""
    return conv.kernel_size[0] > 1 and conv.groups == 1


def conv_filter(min_kernel: int = 2, max_kernel: int | None = None, groups: str = "one") -> ConvFilter:
    """A ``where`` for :func:`swap` from simple rules: kernel size range, and ``groups`` one of
    ``"one"`` (dense convs), ``"depthwise"`` (groups == in_channels) or ``"any"``."""
    if groups not in ("one", "depthwise", "any"):
        raise ValueError(f"groups={groups!r} must be one of one, depthwise, any")

    def matches(conv: nn.Conv2d) -> bool:
        k = conv.kernel_size[0]
        group_ok = {"one": conv.groups == 1, "depthwise": conv.groups == conv.in_channels > 1,
                    "any": True}[groups]
        return k >= min_kernel and (max_kernel is None or k <= max_kernel) and group_ok

    return matches


def targets(model: nn.Module, where: ConvFilter | None = None) -> list[str]:
    """Names of the convs in ``model`` that ``where`` selects (``nn.Conv2d`` exactly, not subclasses)."""
    where = where or default_target
    return [name for name, m in model.named_modules() if type(m) is nn.Conv2d and where(m)]


def _unfit(conv: nn.Conv2d) -> str | None:
    k, s, d = conv.kernel_size, conv.stride, conv.dilation
    if k[0] != k[1] or s[0] != s[1]:
        return f"non-square kernel {k} or stride {s}"
    if d != (1, 1):
        return f"dilation {d}"
    if conv.padding != ((k[0] - 1) // 2,) * 2:
        return f"padding {conv.padding} is not 'same' ({(k[0] - 1) // 2})"
    return None


def swap(model: nn.Module, variant: str, where: ConvFilter | None = None, *, skip_unfit: bool = False,
         **params: Any) -> nn.Module:
    """A copy of ``model`` with every conv that ``where`` selects (default: kernel > 1 and
    groups == 1) replaced by ``variant`` built for that conv's channels, kernel and stride.

    A conv the variant cannot replace (its channels, a non-square kernel, non-"same" padding) is a
    ValueError naming it, or, with ``skip_unfit=True``, is left as it is. A conv with a bias gives
    the variant a bias where the variant has one. The model itself is not changed.
    """
    return swap_report(model, variant, where, skip_unfit=skip_unfit, **params)[0]


def swap_report(model: nn.Module, variant: str, where: ConvFilter | None = None, *,
                skip_unfit: bool = False, **params: Any) -> tuple[nn.Module, list[str], dict[str, str]]:
    """:func:`swap`, also returning the names of the convs replaced and, for those left as they
    were, why."""
    spec = get_variant(variant)
    if not spec.drop_in:
        hint = (": it changes the wiring between layers (a high / low pair); use a network built for it, "
                "e.g. oct_resnet50 for resnet50" if spec.name == "octave" else f" ({spec.notes})")
        raise ValueError(f"swap: {spec.name} cannot replace a conv inside a network{hint}")
    takes_bias = any(p.name == "bias" for p in spec.params)
    model = copy.deepcopy(model)
    replaced, kept = [], {}
    for name in targets(model, where):
        conv = model.get_submodule(name)
        try:
            problem = _unfit(conv)
            if problem:
                raise ValueError(problem)
            kwargs = {"bias": True, **params} if conv.bias is not None and takes_bias else dict(params)
            replacement = build(spec.name, conv.in_channels, conv.out_channels, conv.kernel_size[0],
                                conv.stride[0], **kwargs)
        except ValueError as error:
            if not skip_unfit:
                raise ValueError(f"swap: {spec.name} cannot replace conv '{name}': {error} (skip_unfit=True "
                                 "leaves such convs as they are; where= chooses the convs)") from None
            kept[name] = str(error)
            continue
        replacement.to(device=conv.weight.device, dtype=conv.weight.dtype).train(conv.training)
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, replacement)
        replaced.append(name)
    return model, replaced, kept
