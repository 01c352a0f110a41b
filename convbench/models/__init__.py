"""Reference networks, built here (no downloads), for whole-network counts and timings."""

from __future__ import annotations

import difflib
from typing import Callable

from torch import nn

from convbench.models.mobilenetv3 import mobilenetv3_small
from convbench.models.octave_resnet import oct_resnet50
from convbench.models.resnet import resnet18, resnet50

MODELS: dict[str, Callable[..., nn.Module]] = {
    "resnet18": resnet18,
    "resnet50": resnet50,
    "oct_resnet50": oct_resnet50,
    "mobilenetv3_small": mobilenetv3_small,
}


def model_names() -> list[str]:
    return list(MODELS)


def build_model(name: str, num_classes: int = 1000, **kwargs) -> nn.Module:
    """A reference network by name: ``resnet18``, ``resnet50``, ``oct_resnet50`` (``alpha``, default
    0.5) or ``mobilenetv3_small``; ``kwargs`` go to its builder."""
    if name not in MODELS:
        close = difflib.get_close_matches(name, MODELS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown model '{name}'{hint} (valid: {', '.join(MODELS)})")
    try:
        return MODELS[name](num_classes=num_classes, **kwargs)
    except TypeError as error:
        raise ValueError(f"model '{name}': {error}") from None
