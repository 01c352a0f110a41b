"""The command line, through Click's CliRunner."""

from __future__ import annotations

from click.testing import CliRunner

import convbench
from convbench.cli import main


def test_list_shows_every_variant_with_its_defaults_and_paper():
    result = CliRunner().invoke(main, ["list"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for name in convbench.variant_names():
        assert name in result.output
    assert "alias: dsc" in result.output
    assert "alpha_in=0.5" in result.output and "activation='abs' (choice)" in result.output
    assert "Drop an Octave" in result.output
