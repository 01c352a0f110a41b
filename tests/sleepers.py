"""Modules whose every call takes at least a known time: readings whose rightful row is known."""

from __future__ import annotations

import time

import torch
from torch import nn


class Sleeper(nn.Module):
    """Sleeps ``ms`` milliseconds, then returns its input: every reading of it is at least ``ms``."""

    def __init__(self, ms: float):
        super().__init__()
        self.ms = ms

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.ms / 1000)
        return x
