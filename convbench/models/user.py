"""The user's own code: a network as ``package.module:callable`` or ``path/to/file.py:callable``,
and a variant as ``package.module:name`` (the module registers it with
:func:`convbench.register_variant` when imported).

That one mechanism is how torchvision and timm models are used too (``torchvision.models:resnet50``,
``timm:create_model`` with ``kwargs: {model_name: ...}``), without convbench depending on either.
Naming such an entry runs its code, so a config's entries are only imported with the user's consent
(``--trust-code``; see :mod:`convbench.plan.loading`); :func:`split_entry` checks one without
importing anything. A ``file.py`` path is resolved against ``root`` (a config's directory). Every
problem is a ``ValueError`` of one line that names the entry.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

from torch import nn

__all__ = ["UserCodeError", "build_user_model", "file_path", "import_files", "imported_files", "is_user_code",
           "load_callable", "load_module", "split_entry"]

class UserCodeError(RuntimeError):
    """The user's code failed while a case was built: the case is an ``error`` row, not ``skipped``."""


_FILES: dict[str, str] = {}  # module name -> file, of every file.py imported in this process


def is_user_code(name: Any) -> bool:
    """Whether an entry names code (``module:attribute`` or ``file.py:attribute``) rather than a
    built-in network or variant."""
    return isinstance(name, str) and ":" in name



def split_entry(entry: str) -> tuple[str, str]:
    """``(module or file, attribute)`` of an entry; a ValueError if it is not of that form. Imports nothing."""
    target, _, attribute = entry.rpartition(":")
    if not target.strip() or not attribute.strip():
        raise ValueError(f"{entry!r}: expected package.module:callable or path/to/file.py:callable")
    return target, attribute


def file_path(target: str, root: str | Path | None = None) -> Path | None:
    """Where a ``file.py`` target is: relative paths are taken from ``root`` (default: the working
    directory). None for a module name."""
    if not target.endswith(".py"):
        return None
    path = Path(target).expanduser()
    return path if path.is_absolute() else Path(root or ".") / path


def load_module(entry: str, root: str | Path | None = None):
    """Import the module or file an entry names; a ValueError naming the entry if that fails."""
    target, _ = split_entry(entry)
    path = file_path(target, root)
    try:
        if path is not None:
            if not path.is_file():
                where = f" (looked in {Path(root).resolve()})" if root and not Path(target).is_absolute() else ""
                raise FileNotFoundError(f"no file {path}{where}")
            return _import_file(path)
        return importlib.import_module(target)
    except Exception as error:  # the user's code can raise anything while it is imported
        raise ValueError(f"{entry!r}: cannot import {target} ({type(error).__name__}: {error})") from None
    except (SystemExit, KeyboardInterrupt) as error:
        if isinstance(error, KeyboardInterrupt):
            raise
        raise ValueError(f"{entry!r}: importing {target} called exit({error.code!r})") from None


def load_callable(entry: str, root: str | Path | None = None) -> Callable[..., Any]:
    """The callable an entry names; a ValueError naming the entry if it cannot be imported."""
    _, attribute = split_entry(entry)
    try:
        function = load_module(entry, root)
    except ValueError as error:
        raise ValueError(f"model {error}") from None
    for part in attribute.split("."):
        function = getattr(function, part, None)
        if function is None:
            raise ValueError(f"model {entry!r}: {split_entry(entry)[0]} has no {attribute!r}")
    if not callable(function):
        raise ValueError(f"model {entry!r}: {attribute!r} is not callable")
    return function


def _module_name(path: Path) -> str:
    """The same name for the same file in every process (worker processes import it by this name)."""
    return "convbench_user_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]


def _import_file(path: Path):
    name = _module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    _FILES[name] = str(path.resolve())
    return module


def imported_files() -> dict[str, str]:
    """The user files imported in this process, by module name: what a worker process must import
    (:func:`import_files`) before it can unpickle their networks and variants."""
    return dict(_FILES)


def import_files(files: dict[str, str]) -> None:
    """Import each file under the module name it has in the parent process."""
    for name, path in files.items():
        if name not in sys.modules:
            _import_file(Path(path))


def build_user_model(entry: str, kwargs: dict[str, Any] | None = None, root: str | Path | None = None) -> nn.Module:
    """Call the entry's callable with ``kwargs``; it must return an ``nn.Module``. Anything else,
    ``SystemExit`` included, is a :class:`UserCodeError` naming the entry."""
    try:
        function = load_callable(entry, root)
    except ValueError as error:
        raise UserCodeError(str(error)) from None
    try:
        model = function(**(kwargs or {}))
    except Exception as error:
        raise UserCodeError(f"model {entry!r}: calling it failed ({type(error).__name__}: {error})") from None
    except SystemExit as error:
        raise UserCodeError(f"model {entry!r}: calling it called exit({error.code!r})") from None
    if not isinstance(model, nn.Module):
        raise UserCodeError(f"model {entry!r}: returned {type(model).__name__}, not a torch.nn.Module")
    return model
