"""The README's Python examples run as written, in order, in one session (as a reader would run
them); blocks with `...` placeholders are templates and are skipped."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pandas as pd
import pytest

from convbench.timing.stats import paired_ratio

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if "..." not in b]


def test_readme_examples_run_in_order(tmp_path, monkeypatch):
    assert len(BLOCKS) >= 3
    monkeypatch.chdir(tmp_path)  # what the examples write lands here, beside the configs they read
    (tmp_path / "configs").symlink_to(README.parent / "configs")
    namespace = {"__name__": "readme"}
    for block in BLOCKS:
        exec(compile(block, str(README), "exec"), namespace)
    result = namespace["result"]  # the interval is the one of its own rounds' ratios
    expected = paired_ratio(result.round_ratios, [1.0] * len(result.round_ratios))
    assert (result.ratio_low, result.ratio_high) == (pytest.approx(expected.low), pytest.approx(expected.high))
    merged = pd.read_csv(tmp_path / "runs" / "quick-merged" / "results.csv")  # the submitit example's
    assert len(merged) == len(merged["case_id"].unique()) == 4


COMMANDS = [line.split("#")[0].strip() for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
            for line in block.replace("\\\n", " ").splitlines()
            if line.strip().startswith("convbench ") or " && convbench " in line]


@pytest.mark.parametrize("command", [part.strip() for line in COMMANDS for part in line.split("&&")
                                     if part.strip().startswith("convbench ")])
def test_readme_command_lines_parse(command):
    """Every `convbench` line of the README names a real command with real options and valid
    values (paths that earlier lines create are the only thing allowed to be missing)."""
    from convbench.cli import main

    args = shlex.split(command)[1:]
    if args == ["--help"] or not args:
        return
    sub = main.get_command(click.Context(main), args[0])
    assert sub is not None, command
    try:
        sub.make_context(args[0], args[1:])
    except click.BadParameter as error:
        assert "does not exist" in str(error), (command, str(error))


def test_readme_shows_what_the_registry_returns():
    import convbench

    text = README.read_text()
    names = ", ".join(repr(n) for n in convbench.variant_names())
    assert names.replace(" ", "") in text.replace("#", "").replace("\n", "").replace(" ", "")
    assert repr(convbench.get_variant("octave").cost(64, 64, 3, 1, 56, 56)) in text
