"""The user's own network: ``package.module:callable`` or ``path/to/file.py:callable``.

That one mechanism is how torchvision and timm models are used too (``torchvision.models:resnet50``,
``timm:create_model`` with ``kwargs: {model_name: ...}``), without convbench depending on either.
Every problem is a ``ValueError`` of one line that names the entry.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

from torch import nn

__all__ = ["build_user_model", "is_user_model", "load_callable"]


def is_user_model(name: str) -> bool:
    return isinstance(name, str) and ":" in name


def load_callable(entry: str) -> Callable[..., Any]:
    """The callable an entry names; a ValueError naming the entry if it cannot be imported."""
    target, _, attribute = entry.rpartition(":")
    if not target or not attribute:
        raise ValueError(f"model {entry!r}: expected package.module:callable or path/to/file.py:callable")
    try:
        module = _import_file(Path(target)) if target.endswith(".py") else importlib.import_module(target)
    except Exception as error:  # the user's code can raise anything while it is imported
        raise ValueError(f"model {entry!r}: cannot import {target} ({type(error).__name__}: {error})") from None
    function = module
    for part in attribute.split("."):
        function = getattr(function, part, None)
        if function is None:
            raise ValueError(f"model {entry!r}: {target} has no {attribute!r}")
    if not callable(function):
        raise ValueError(f"model {entry!r}: {attribute!r} is not callable")
    return function


def _import_file(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"no file {path}")
    name = f"convbench_user_{abs(hash(str(path.resolve())))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def build_user_model(entry: str, kwargs: dict[str, Any] | None = None) -> nn.Module:
    """Call the entry's callable with ``kwargs``; it must return an ``nn.Module``."""
    function = load_callable(entry)
    try:
        model = function(**(kwargs or {}))
    except Exception as error:
        raise ValueError(f"model {entry!r}: calling it failed ({type(error).__name__}: {error})") from None
    if not isinstance(model, nn.Module):
        raise ValueError(f"model {entry!r}: returned {type(model).__name__}, not a torch.nn.Module")
    return model
