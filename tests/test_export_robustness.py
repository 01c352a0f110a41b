"""export and plot on results files that are cut short, foreign or corrupt: one line naming the
file (exit 2), or a warning where the rest can still be read."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from convbench.cli import main
from tests.cli_checks import assert_one_line_exit_2

CONFIG = "name: t\nshapes: [{in_channels: 8, size: 8}]\nvariants: [conv, depthwise, {name: group, groups: 2}]\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("export")
    (directory / "c.yaml").write_text(CONFIG)
    result = CliRunner().invoke(main, ["run", str(directory / "c.yaml"), "--no-timing", "--out", str(directory / "o")])
    assert result.exit_code == 0, result.output
    return directory / "o"


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_a_csv_cut_mid_row_drops_that_row_with_a_warning(run_dir, tmp_path):
    text = (run_dir / "results.csv").read_text()
    cut = tmp_path / "results.csv"
    cut.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 20])  # the last row, 20 characters of it
    result = invoke("export", str(cut), "--format", "csv")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "cut short" in result.output
    assert sum(1 for line in result.stdout.splitlines()[1:] if line.strip()) == 2


@pytest.mark.parametrize("content,fragment", [
    ("[1, 2, 3]", "not a convbench results.json"),
    ('{"rows": [1]}', "rows[0]: a row must be an object, got int"),
    ('{"rows": [{"x": 1}]}', "rows[0].variant: must be text, got nothing"),
    ('{"rows": [', "not valid JSON"),
])
def test_a_foreign_or_corrupt_json_is_one_line_naming_it(tmp_path, content, fragment):
    path = tmp_path / "results.json"
    path.write_text(content)
    assert_one_line_exit_2(invoke("export", str(path)), str(path), fragment)


def test_another_tools_csv_is_refused(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("name,value\na,1\nb,2\n")
    assert_one_line_exit_2(invoke("export", str(path)), str(path), "not convbench results")


def test_a_garbage_json_beside_a_good_csv_falls_back_to_the_csv(run_dir, tmp_path):
    directory = tmp_path / "run"
    directory.mkdir()
    (directory / "results.csv").write_text((run_dir / "results.csv").read_text())
    (directory / "results.json").write_bytes(b"\x00garbage")
    result = invoke("export", str(directory), "--format", "json")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "results.json" in result.stderr
    assert len(json.loads(result.stdout)["rows"]) == 3


def test_export_into_a_missing_directory_creates_it(run_dir, tmp_path):
    target = tmp_path / "new" / "deeper" / "table.tex"
    result = invoke("export", str(run_dir), "--format", "latex", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_text().startswith("\\begin{table}")


def test_export_into_a_file_as_directory_is_one_line(run_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_exit_2(invoke("export", str(run_dir), "-o", str(blocker / "t.csv")), "cannot write")
