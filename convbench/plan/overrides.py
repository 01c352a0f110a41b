"""What the command line changes in a config: values set at config paths, each with the flag that
gave it, applied to the config's data before it is validated. A value from the command line so
meets every rule a value in the file meets, checked once, and a problem names the flag::

    configs/all.yaml: --backend: runtimes other than eager time inference only; drop them or timing.training
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Path = tuple[str, ...]


@dataclass(frozen=True)
class Overrides:
    """Values to set, in order: ``(path, value, flag)``; a later one wins."""

    values: tuple[tuple[Path, Any, str], ...] = ()

    def set(self, path: Path, value: Any, flag: str) -> Overrides:
        return Overrides((*self.values, (path, value, flag)))

    def apply(self, data: dict) -> tuple[dict, dict[Path, str]]:
        """``data`` with the values set (``data`` itself is left as it was), and the flag of each path set."""
        data = dict(data)
        flags = {}
        for path, value, flag in self.values:
            inner = data
            for key in path[:-1]:
                if inner.get(key) is not None and not isinstance(inner[key], dict):
                    break  # the file's value is not a mapping: validation refuses it as it is
                inner[key] = dict(inner.get(key) or {})
                inner = inner[key]
            else:
                inner[path[-1]] = value
                flags = {p: f for p, f in flags.items() if p[:len(path)] != path}  # what it replaced
                flags[path] = flag
        return data, flags

    def __bool__(self) -> bool:
        return bool(self.values)
