"""The plan: a suite expanded once into sessions and cases, read by everything that counts,
shards, resumes or groups cases; command-line overrides validated with the config; the recorded
command line; and the runtime facts kept inside backends/."""

from __future__ import annotations

import ast
import json
import shlex
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st
from torch import nn

from convbench import backends
from convbench.cli import main
from convbench.plan.expand import make_plan
from convbench.plan.loading import parse_config
from convbench.plan.sharding import Shard
from tests.cli_checks import assert_one_line_exit_2

WIDE = {"COLUMNS": "300"}
PACKAGE = Path(__file__).resolve().parents[1] / "convbench"
TWO_PRECISIONS = """\
name: two
dtype: [float32, bfloat16]
timing: {min_span: 0, min_time: 0.01, rounds: 5, threads: 1, warmup_time: 0.0}
shapes:
  - {in_channels: 8, size: 8}
  - {in_channels: 8, size: 10}
variants: [conv, depthwise]
"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], env=WIDE)


def test_a_two_precision_run_resumes_holding_every_case(tmp_path):
    config = tmp_path / "two.yaml"
    config.write_text(TWO_PRECISIONS)
    out = tmp_path / "r"
    assert invoke("run", config, "--no-timing", "--out", out).exit_code == 0
    first = pd.read_csv(out / "results.csv")
    assert len(first) == 2 * 2 * 2  # shapes x variants x precisions
    result = invoke("run", config, "--no-timing", "--resume", out)
    assert result.exit_code == 0, result.output
    assert "2 shape(s) already in the directory" in result.output and "0 rows written" in result.output
    assert len(pd.read_csv(out / "results.csv")) == 8


CONFIGS = st.fixed_dictionaries({
    "shapes": st.integers(1, 3), "variants": st.lists(st.sampled_from(["conv", "depthwise", "separable", "octave"]),
                                                     min_size=1, max_size=4, unique=True),
    "backends": st.lists(st.sampled_from(["eager", "compile", "onnxruntime", "executorch"]), min_size=1, max_size=3,
                         unique=True),
    "threads": st.lists(st.integers(1, 4), min_size=1, max_size=3, unique=True),
    "dtypes": st.lists(st.sampled_from(["float32", "bfloat16", "float16"]), min_size=1, max_size=3, unique=True),
    "devices": st.sampled_from([["cpu"], ["cpu", "cuda"]]),
})


def suite_of(c: dict):
    shapes = ", ".join(f"{{in_channels: 8, size: {8 + i}}}" for i in range(c["shapes"]))
    return parse_config(f"shapes: [{shapes}]\nvariants: {c['variants']}\nbackends: {c['backends']}\n"
                        f"devices: {c['devices']}\ndtype: {c['dtypes']}\ntiming: {{threads: {c['threads']}}}\n")


@settings(max_examples=60, deadline=None)
@given(CONFIGS)
def test_the_plan_has_every_combination_of_the_axes_once(c):
    plan = make_plan(suite_of(c))
    requests = len(set(c["variants"]) | {"conv"})
    expected = (c["shapes"] * len(c["devices"]) * requests * len(c["backends"]) * len(c["threads"])
                * len(c["dtypes"]))
    assert len(plan.cases) == len(plan.case_ids) == expected
    assert len(plan.sessions) == c["shapes"] * len(c["devices"])
    for session in plan.sessions:
        by_id = {case.case_id: case for case in session.cases}
        assert sorted(i for sitting in session.sittings for i in sitting) == sorted(by_id)
        for case in session.cases:
            baseline = by_id[case.baseline_id]
            assert baseline.is_baseline and baseline.axis == case.axis
            if case.eager_id:
                assert by_id[case.eager_id].axis == case.axis.__class__("eager", case.axis.threads, case.axis.dtype)
            assert (case.eager_id is None) == (case.axis.backend == "eager" or "eager" not in c["backends"])
            assert (case.float32_id is None) == (case.axis.dtype == "float32" or "float32" not in c["dtypes"])
        if "executorch" in c["backends"] and len(c["threads"]) > 1:  # its thread pool is process-wide
            assert [{by_id[i].axis.threads for i in sitting} for sitting in session.sittings] == [
                {n} for n in c["threads"]]
        else:
            assert len(session.sittings) == 1


@settings(max_examples=30, deadline=None)
@given(CONFIGS, st.integers(1, 5))
def test_shards_deal_out_every_session_once(c, count):
    plan = make_plan(suite_of(c))
    dealt = [key for k in range(1, count + 1) for key in plan.shard(Shard(k, count)).keys]
    assert sorted(dealt) == sorted(plan.keys)
    sizes = [len(plan.shard(Shard(k, count)).sessions) for k in range(1, count + 1)]
    assert max(sizes) - min(sizes) <= 1


def test_the_progress_bar_counts_every_precision(tmp_path, monkeypatch):
    import convbench.suite.recording as recording

    totals = []
    real = recording.Progress

    class Recorded(real):
        def add_task(self, description, total=None, **kwargs):
            totals.append(total)
            return super().add_task(description, total=total, **kwargs)

    monkeypatch.setattr(recording, "Progress", Recorded)
    config = tmp_path / "two.yaml"
    config.write_text(TWO_PRECISIONS)
    assert invoke("run", config, "--no-timing", "--out", tmp_path / "o").exit_code == 0
    assert totals == [8]


def test_plan_prints_every_case_and_times_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("two.yaml").write_text(TWO_PRECISIONS)
    result = invoke("run", "two.yaml", "--plan", "--json", "--threads", "1,2")
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    suite = parse_config(TWO_PRECISIONS.replace("threads: 1", "threads: [1, 2]"))
    assert [r["case_id"] for r in records] == [c.case_id for c in make_plan(suite).cases]
    assert {(r["threads"], r["dtype"]) for r in records} == {(1, "float32"), (2, "float32"), (1, "bfloat16"),
                                                             (2, "bfloat16")}
    assert not Path("results").exists()
    table = invoke("run", "two.yaml", "--plan", "--shard", "2/2")
    assert table.exit_code == 0 and "4 case(s) in 1 session(s)" in table.output


def test_an_override_meets_the_configs_rules_and_names_its_flag(tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text("timing: {training: true}\nshapes: [{in_channels: 8, size: 8}]\nvariants: [depthwise]\n")
    assert_one_line_exit_2(invoke("run", config, "--backend", "onnxruntime", "--no-timing"),
                           "--backend", "inference only")
    assert_one_line_exit_2(invoke("run", config, "--dtype", "int8", "--no-timing"), "int8")
    many = tmp_path / "many.yaml"
    many.write_text("shapes: [{in_channels: 8, size: 8}]\nvariants: [depthwise, separable]\n")
    assert invoke("run", many, "--plan", "--max-cases", "6").exit_code == 0  # 3 cases
    assert_one_line_exit_2(invoke("run", many, "--plan", "--max-cases", "6", "--threads", "1,2,3"),
                           "9 cases", "--max-cases")


def test_the_recorded_command_runs_again_as_it_was(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("a b").mkdir()
    Path("a b/one.yaml").write_text("shapes: [{in_channels: 8, size: 8}]\nvariants: [conv]\n")
    args = ["compare", "depthwise", "--config", "a b/one.yaml", "--no-timing", "--out", "o; x"]
    assert invoke(*args).exit_code == 0
    line = next(line for line in Path("o; x/report.md").read_text().splitlines() if line.startswith("Command:"))
    command = line.removeprefix("Command: ").strip("`")
    assert shlex.split(command) == ["convbench", *args]


def test_a_session_counts_the_workers_that_ran():
    """Three processes asked for two rounds: one worker has none, and the interval is over two."""
    from convbench.timing import time_session

    entries = [(nn.Identity(), (torch.zeros(4),)), (nn.ReLU(), (torch.zeros(4),))]
    session = time_session(entries, rounds=2, round_time=0.01, processes=3)
    assert [t.processes for t in session.timings] == [2, 2]
    assert session.ratio(1, 0, 0.95, 0.05).replicates == 2


RUNTIME_NAMES = set(backends.BACKENDS)


@pytest.mark.parametrize("path", sorted(p for p in PACKAGE.rglob("*.py") if "backends" not in p.parts),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_runtime_name_is_tested_outside_backends(path):
    """A runtime's facts are attributes of its class; code elsewhere asks for them, never for a name."""
    tested = runtime_names_tested(ast.parse(path.read_text()))
    assert tested == [], f"{path.name} tests runtime names {tested}"


def runtime_names_tested(tree: ast.AST) -> list[str]:
    """The runtime names a comparison in ``tree`` holds a value against (``==``, ``in (...)``)."""
    tested = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                values = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
                tested += [v.value for v in values if isinstance(v, ast.Constant) and v.value in RUNTIME_NAMES]
    return tested


def test_the_runtime_name_scan_finds_a_planted_test():
    planted = ast.parse('if spec == "openvino" or name in ("eager", "compile"):\n    pass')
    assert runtime_names_tested(planted) == ["openvino", "eager", "compile"]


def test_every_runtime_answers_the_protocol():
    for name, cls in backends.RUNTIMES.items():
        runtime = backends.runtime(name)
        assert runtime.spec == name and cls.name == name and cls.short_name
        assert isinstance(runtime.settings(2), dict) and runtime.settings(2)
        assert (name in backends.QUANTIZING) == cls.quantizes
    assert backends.canonical("compile:default") == "compile"
    assert backends.runtime("compile:max-autotune").spec == "compile:max-autotune"


KEYS = st.sampled_from(["devices", "backends", "dtype", "timing", "threads", "shapes"])
VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
                      max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=4), st.lists(st.tuples(st.lists(KEYS, min_size=1, max_size=3), VALUES),
                                                          max_size=4))
def test_overrides_set_their_paths_and_leave_the_file_data_as_it_was(data, sets):
    from copy import deepcopy

    from convbench.plan.overrides import Overrides

    before = deepcopy(data)
    overrides = Overrides()
    for path, value in sets:
        overrides = overrides.set(tuple(path), value, f"--{path[-1]}")
    applied, flags = overrides.apply(data)
    assert data == before
    for path in flags:  # a path set holds the last value given for it, unless a later one went inside it
        last = max(i for i, (p, _) in enumerate(sets) if tuple(p) == path)
        if any(tuple(p[:len(path)]) == path and len(p) > len(path) for p, _ in sets[last + 1:]):
            continue
        inner = applied
        for key in path:
            inner = inner[key]
        assert inner == sets[last][1]


@settings(max_examples=60, deadline=None)
@given(threads=st.text(max_size=8), dtypes=st.text(max_size=12), device=st.sampled_from(["cpu", "auto", "gpu", ""]))
def test_bad_axis_options_are_refused_in_one_line(threads, dtypes, device):
    result = invoke("run", "configs/quick.yaml", "--plan", "--json", "--threads", threads, "--dtype", dtypes,
                    "--device", device)
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    if result.exit_code == 2:
        assert_one_line_exit_2(result)
    else:
        assert json.loads(result.output)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789=,inoutksz²٣ -")), max_size=24))
def test_a_shape_or_input_on_the_command_line_is_read_or_refused_as_bad_input(text):
    """``str.isdigit`` takes "²" and "٣": a value must be ASCII digits, or the option is refused."""
    import click

    from convbench.cli.common import model_entry, parse_shape

    for parse in (parse_shape, lambda t: model_entry("resnet18", t)):
        try:
            parse(text)
        except click.ClickException as error:
            assert error.exit_code == 2 and "\n" not in error.format_message()
