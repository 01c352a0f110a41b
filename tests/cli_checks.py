"""What every refused input must look like from the command line."""

from __future__ import annotations


def assert_one_line_exit_2(result, *fragments: str) -> None:
    """Exit code 2, one line of output, no traceback, and each fragment in that line."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
