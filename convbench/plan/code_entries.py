"""Config entries that name code: a network as ``module:callable`` / ``file.py:callable``, a variant as
``module:name`` / ``file.py:name``. Nothing is imported unless the user trusts the config
(``--trust-code``); a ``file.py`` path starts in the config's directory."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from convbench.models.user import file_path, load_module, split_entry
from convbench.registry import get_variant, variant_names
from convbench.plan.located import ConfigDocument

TRUST_FLAG = "--trust-code"


@dataclasses.dataclass(frozen=True)
class CodePolicy:
    """Whether a config's entries that name code (``module:callable``, ``file.py:callable``) may be
    imported, and where a ``file.py`` path starts (the config's directory)."""

    trusted: bool = False
    root: str | None = None


def consent(doc: ConfigDocument, path: tuple, entry: str, what: str) -> str:
    """Check an entry that names code, importing nothing: refused unless the user trusts the config.
    Returns the directory its ``file.py`` path starts from."""
    try:
        target, _ = split_entry(entry)
    except ValueError as error:
        raise doc.error(path, f"{what} {error}") from None
    if not doc.code.trusted:
        raise doc.error(path, f"{what} {entry!r} runs code from {target}; convbench imports code named in a "
                              f"config only when you trust it: rerun with {TRUST_FLAG}")
    root = doc.code.root or "."
    located = file_path(target, root)
    if located is not None and not located.is_file():
        raise doc.error(path, f"{what} {entry!r}: no file {located} (a relative path starts in the config's "
                              f"directory, {Path(root).resolve()})")
    return str(Path(root).resolve())


def user_variant(doc: ConfigDocument, path: tuple, entry: str) -> str:
    """``package.module:name`` or ``file.py:name``: with consent, import the module (which registers
    the variant with :func:`convbench.register_variant`); the registered name."""
    root = consent(doc, path, entry, "variant")
    before = set(variant_names())
    try:
        load_module(entry, root)
    except ValueError as error:
        raise doc.error(path, f"variant {error}") from None
    name = split_entry(entry)[1]
    try:
        get_variant(name)
    except ValueError:
        added = sorted(set(variant_names()) - before)
        raise doc.error(path, f"variant {entry!r}: importing it registers no variant {name!r} "
                              f"({'it registers: ' + ', '.join(added) if added else 'it registers none'})") from None
    return name
