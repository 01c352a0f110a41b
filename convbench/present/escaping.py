"""Text from a results file or a config, made inert for the document it is copied into (plots
turn math text off instead: see :mod:`convbench.present.plot`).

A results file is data from whoever wrote it: a label, a shape, a status, a host name or a config's
description must reach a LaTeX table, a Markdown report, a spreadsheet or a plot as the characters
it holds, never as markup, a formula or math text.
"""

from __future__ import annotations

import re
import unicodedata

from convbench.store.csv_text import inert as csv_cell

__all__ = ["csv_cell", "latex_text", "markdown_code", "markdown_text"]

# "[" and "*" are braced because a row's closing \\ would take them as its arguments.
_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                   "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                   "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", "'": r"\textquotesingle{}",
                   "`": r"\textasciigrave{}", '"': r"\textquotedbl{}", "[": "{[}", "]": "{]}", "*": "{*}"}


def _latex_char(ch: str) -> str:
    if ch in _LATEX_SPECIALS:
        return _LATEX_SPECIALS[ch]
    if " " <= ch <= "~":
        return ch
    if ch in "\t\n\r":
        return " "
    return f"{{[}}U+{ord(ch):04X}{{]}}"  # pdflatex has no glyph for most of Unicode: name the code point


def _latex_plain(text: str) -> str:
    # "--" and "---" would become dashes: a hyphen before a hyphen is closed with {}
    return "".join("-{}" if ch == "-" and text[i + 1:i + 2] == "-" else _latex_char(ch) for i, ch in enumerate(text))


def latex_text(text, typeset: bool = True) -> str:
    """Plain text made safe for LaTeX: every special character escaped, every character outside
    printable ASCII written as its code point. With ``typeset``, our own ``->``, ``+-`` and
    ``64x56x56`` are set as math."""
    text = str(text)
    if not typeset:
        return _latex_plain(text)
    pieces = re.split(r"(->|\+-|\b\d+(?:x\d+)+\b)", text)
    out = []
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            out.append(_latex_plain(piece))
        elif piece == "->":
            out.append(r"$\to$")
        elif piece == "+-":
            out.append(r"$\pm$")
        else:
            out.append("$" + piece.replace("x", r"\times ") + "$")
    return "".join(out)


_MARKDOWN_ALWAYS = set("\\`*_[]<&|#~$")
_MARKDOWN_AT_START = set("+-=:>!") | _MARKDOWN_ALWAYS


def markdown_text(text) -> str:
    """Text that CommonMark and GitHub render as the same characters: one line without the spaces
    around it, HTML and every character that can start a link, emphasis, code, a table cell, math or
    a block escaped."""
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in str(text)).strip()
    out = []
    for i, ch in enumerate(text):
        if ch in _MARKDOWN_ALWAYS or (i == 0 and ch in _MARKDOWN_AT_START):
            out.append("\\" + ch)
        elif ch in ".)" and text[:i].isdigit() and text[i + 1:i + 2] in ("", " "):  # "1. x": a numbered list
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def markdown_code(text) -> str:
    """A one-line code span holding ``text`` as written: fenced by more backticks than it holds in a row."""
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in str(text))
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if text.startswith("`") or text.endswith("`") else f"{fence}{text}{fence}"
