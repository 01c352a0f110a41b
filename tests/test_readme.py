"""The README's Python examples run as written, in order, in one session (as a reader would run
them); blocks with `...` placeholders are templates and are skipped."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if "..." not in b]


def test_readme_examples_run_in_order():
    assert len(BLOCKS) >= 3
    namespace = {"__name__": "readme"}
    for block in BLOCKS:
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["result"].ratio_low <= namespace["result"].ratio <= namespace["result"].ratio_high


def test_readme_shows_what_the_registry_returns():
    import convbench

    text = README.read_text()
    names = ", ".join(repr(n) for n in convbench.variant_names())
    assert names.replace(" ", "") in text.replace("#", "").replace("\n", "").replace(" ", "")
    assert repr(convbench.get_variant("octave").cost(64, 64, 3, 1, 56, 56)) in text
