"""A config runs code only when the user says so: entries naming code are refused, before anything
is imported, unless `--trust-code` is given (or the model is named with `--model`); `file.py` paths
start in the config's directory; user code that exits or fails is a row, not the end of the run."""

from __future__ import annotations

import json
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from convbench.cli import main
from convbench.plan.config import ConfigError
from convbench.plan.loading import parse_config
from tests.cli_checks import assert_one_line_exit_2
from tests.run_files import run_document

TIMING = "timing: {min_span: 0, min_time: 0.01, rounds: 5, threads: 1, warmup_time: 0.0}\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def tripwire(directory: Path, name: str = "tripwire.py") -> tuple[Path, Path]:
    """A user file that leaves a marker when imported, and the marker."""
    marker = directory / "IMPORTED"
    code = write(directory / name, f"""
        from pathlib import Path
        from torch import nn
        Path({str(marker)!r}).write_text("imported")

        def make(width=4):
            return nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False))

        def leave(**kwargs):
            raise SystemExit(7)

        def interrupt(**kwargs):
            raise KeyboardInterrupt
        """)
    return code, marker


@pytest.mark.parametrize("entry,kwargs", [
    ("os:system", {"command": "id > PWNED"}),
    ("runpy:run_path", {"path_name": "notes.txt"}),
])
def test_a_config_naming_code_is_refused_without_consent(tmp_path, monkeypatch, entry, kwargs):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "notes.txt", "open('PWNED', 'w').write('ran')\n")
    config = write(tmp_path / "evil.yaml", f"name: evil\nmodels: [{json.dumps({'name': entry, 'kwargs': kwargs, 'input': [3, 8, 8]})}]\n"
                                          "variants: [conv]\n")
    result = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--out", str(tmp_path / "o")])
    assert_one_line_exit_2(result, "evil.yaml:2: models[0].name", entry, "--trust-code")
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "o").exists()


def test_no_import_happens_without_consent(tmp_path):
    code, marker = tripwire(tmp_path)
    config = write(tmp_path / "c.yaml", "models: [{name: 'tripwire.py:make', input: [3, 8, 8]}]\n"
                                        "variants: [conv, 'tripwire.py:make']\n")
    before = set(sys.modules)
    with pytest.raises(ConfigError, match="--trust-code"):
        parse_config(config.read_bytes(), str(config))
    assert not marker.exists()
    assert not [m for m in set(sys.modules) - before if "convbench_user" in m or "tripwire" in m]
    variant_only = write(tmp_path / "v.yaml", "shapes: [{in_channels: 4, size: 8}]\nvariants: ['tripwire.py:x']\n")
    assert_one_line_exit_2(CliRunner().invoke(main, ["run", str(variant_only), "--no-timing"]),
                           "variants[0]", "--trust-code")
    assert not marker.exists()


def test_compare_config_takes_shapes_and_timing_only(tmp_path):
    code, marker = tripwire(tmp_path)
    config = write(tmp_path / "evil.yaml", "shapes: [{in_channels: 4, size: 8}]\n" + TIMING +
                   "models: [{name: 'tripwire.py:make', input: [3, 8, 8]}]\nvariants: ['tripwire.py:make']\n"
                   "sweep: {kernel_size: [1, 3], groups: [2]}\n")
    result = CliRunner().invoke(main, ["compare", "depthwise", "--config", str(config), "--no-timing", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert sorted({row["variant"] for row in rows}) == ["conv", "depthwise"]
    assert sorted({row["kernel_size"] for row in rows}) == [1, 3] and not marker.exists()


def test_file_paths_start_in_the_configs_directory(tmp_path, monkeypatch):
    code, marker = tripwire(tmp_path / "project")
    config = write(tmp_path / "project" / "c.yaml", "name: c\n" + TIMING +
                   "models: [{name: 'tripwire.py:make', input: [3, 8, 8]}]\nvariants: [conv, separable]\n")
    elsewhere = tmp_path / "job"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--trust-code", "--json", "--out", "o"])
    assert result.exit_code == 0, result.output
    assert {row["status"] for row in json.loads(result.stdout)["rows"]} == {"ok"} and marker.exists()
    missing = write(tmp_path / "project" / "m.yaml", "models: [{name: 'nets/none.py:make'}]\nvariants: [conv]\n")
    assert_one_line_exit_2(CliRunner().invoke(main, ["run", str(missing), "--trust-code"]),
                           "no file", str((tmp_path / "project").resolve()))


def test_a_user_variant_loads_from_a_config_with_consent(tmp_path):
    write(tmp_path / "myconvs.py", """
        import convbench
        from torch import nn

        def cost(shape, params):
            ho, wo = shape.conv_output()
            return convbench.FormulaCost(params=shape.in_channels * shape.out_channels,
                                         macs=shape.in_channels * shape.out_channels * ho * wo)

        @convbench.register_variant("pointwise_test", description="1x1", paper="none", cost=cost)
        def build(cin, cout, kernel_size, stride):
            return nn.Conv2d(cin, cout, 1, stride, bias=False)
        """)
    config = write(tmp_path / "c.yaml", "shapes: [{in_channels: 4, out_channels: 6, size: 8}]\n" + TIMING +
                   "variants: [conv, 'myconvs.py:pointwise_test']\n")
    try:
        result = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--trust-code", "--json",
                                           "--out", str(tmp_path / "o")])
        assert result.exit_code == 0, result.output
        row = {r["variant"]: r for r in json.loads(result.stdout)["rows"]}["pointwise_test"]
        assert row["macs"] == row["macs_formula"] == 4 * 6 * 64 and row["formula_check"] == "ok"
        wrong = write(tmp_path / "w.yaml", "shapes: [{in_channels: 4, size: 8}]\nvariants: ['myconvs.py:nothing']\n")
        assert_one_line_exit_2(CliRunner().invoke(main, ["run", str(wrong), "--trust-code"]),
                               "registers no variant 'nothing'")
    finally:
        from convbench.registry import unregister_variant
        unregister_variant("pointwise_test")


@pytest.mark.parametrize("callable_name,raised", [("leave", "exit(7)"), ("interrupt", "KeyboardInterrupt")])
def test_user_code_that_exits_is_an_error_row_and_the_run_fails_whole(tmp_path, callable_name, raised):
    tripwire(tmp_path)
    config = write(tmp_path / "c.yaml", f"models: [{{name: 'tripwire.py:{callable_name}', input: [3, 8, 8]}}]\n"
                                        "variants: [conv, depthwise]\n")
    out = tmp_path / "o"
    result = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--trust-code", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "every case failed" in result.output
    rows = run_document(out)["rows"]
    assert [row["status"] for row in rows] == ["error", "error"] and raised in rows[0]["error"]
    assert all(row["traceback"].startswith("Traceback") for row in rows)
    assert not (out / ".convbench.lock").exists() and (out / "report.md").exists()
    debug = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--trust-code", "--debug",
                                      "--out", str(tmp_path / "o2")])
    assert debug.exit_code == 1 and "Traceback (most recent call last)" in debug.output


def test_a_file_network_times_in_worker_processes(tmp_path):
    code, _ = tripwire(tmp_path)
    result = CliRunner().invoke(main, ["compare", "separable", "--model", f"{code}:make", "--input", "3,8,8",
                                       "--processes", "2", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert [row["status"] for row in rows] == ["ok", "ok"] and all(row["latency_ms"] > 0 for row in rows)
    assert all(row["processes"] == 2 for row in rows)


@pytest.mark.parametrize("text,fragment", [
    ("models: [{name: resnet18, kwargs: {a: {1: x, b: y}}}]\nvariants: [conv]\n", "kwargs.a[1]: key 1 must be text"),
    ("shapes: [{in_channels: 8, size: 8}]\nvariants: [group]\nsweep: {group.groups: [2, 4], groups: [1]}\n",
     "sets group's groups, as sweep.group.groups does"),
    ("shapes: [{in_channels: 8, size: 8}]\nvariants: [depthwise, separable, depthwise]\n",
     "variants[2]: depthwise is listed twice (also variants[0])"),
    ("models: [resnet18, {name: resnet18}]\nvariants: [conv]\n", "models[1]: resnet18 @ 1x3x224x224 is listed twice"),
])
def test_colliding_or_repeated_entries_are_one_line(tmp_path, text, fragment):
    config = write(tmp_path / "c.yaml", text)
    assert_one_line_exit_2(CliRunner().invoke(main, ["run", str(config), "--no-timing"]), fragment)


def test_a_huge_sweep_is_refused_before_anything_is_built():
    text = ("shapes:\n" + "".join(f"  - {{in_channels: {c}, size: 8}}\n" for c in range(1, 2000))
            + "variants: [conv, group]\nsweep:\n  kernel_size: " + json.dumps(list(range(1, 101)))
            + "\n  size: " + json.dumps(list(range(1, 101))) + "\n  groups: " + json.dumps(list(range(1, 10001))) + "\n")
    assert len(text) > 60_000
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="up to [0-9,]+ cases .* more than the limit of 10,000"):
            parse_config(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, peak


def test_the_shipped_example_of_own_code_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the file beside the config is found from anywhere
    config = Path(__file__).resolve().parents[1] / "configs" / "own_code.yaml"
    before = set(sys.modules)
    try:
        result = CliRunner().invoke(main, ["run", str(config), "--trust-code", "--no-timing", "--json", "--out", "o"])
        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout)["rows"]
        shift = [row for row in rows if row["variant"] == "shift"]
        assert shift[0]["macs"] == shift[0]["macs_formula"] == 32 * 32 * 28 * 28
        assert shift[1]["convs_replaced"] == 2 and {row["status"] for row in rows} == {"ok"}
    finally:
        from convbench.registry import unregister_variant

        unregister_variant("shift")
        for name in set(sys.modules) - before:
            if name.startswith("convbench_user_"):
                del sys.modules[name]
