"""Text cells that a spreadsheet shows and never runs (OWASP's advice on CSV injection): a cell that
starts with ``= + - @``, a tab or a carriage return gets a leading ``'``, which convbench's own CSV
reader takes off again."""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(value):
    """``value`` as a CSV cell that cannot run as a formula; numbers pass as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def restored(value):
    """The text :func:`inert` was given."""
    if isinstance(value, str) and value.startswith("'") and value[1:2] and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value
