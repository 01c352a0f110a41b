"""Replacing a file in one step, with the permissions the user's umask gives a new file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step, through a uniquely named temporary file beside it
    (never a half-written file, never another writer's temporary)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        os.fchmod(handle, new_file_mode())  # mkstemp makes it 0600 whatever the umask
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """0666 less the process's umask: what ``open(path, "w")`` would give a new file."""
    return 0o666 & ~current_umask()


def new_directory_mode() -> int:
    """0777 less the process's umask: what ``mkdir`` would give a new directory."""
    return 0o777 & ~current_umask()
