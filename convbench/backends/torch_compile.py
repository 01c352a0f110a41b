"""``torch.compile`` (TorchInductor): the module compiled once, before timing.

Inductor writes and builds C++ on the CPU, so it needs a C++ compiler (``$CXX`` or ``c++``).
"""

from __future__ import annotations

import os
import shutil

import torch

from convbench.backends import BackendCannotTake, BackendUnavailable


def require() -> None:
    compiler = os.environ.get("CXX", "c++")
    if not shutil.which(compiler):
        raise BackendUnavailable(f"backend compile needs a C++ compiler ({compiler} is not on PATH): "
                                 "install one (e.g. g++), or set CXX")


def version() -> str:
    return "torch.compile (inductor)"


def prepare(model, inputs, threads, device):
    torch.set_num_threads(threads)
    compiled = torch.compile(model, dynamic=False)
    try:
        compiled(*inputs)
    except Exception as error:  # a graph break is fine; a failure to compile is this module's, not the run's
        raise BackendCannotTake(f"compile cannot take it: {type(error).__name__}: {str(error).splitlines()[0]}") from None
    return lambda: compiled(*inputs)
