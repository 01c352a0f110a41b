"""A config's ``input:`` for networks: dtypes, names and batch dimensions reach the network as
given, the rows count per sequence where the network takes sequences, and every malformed entry
is one line naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convbench.cli import main
from convbench.plan.config import ConfigError
from convbench.plan.loading import parse_config
from convbench.plan.code_entries import CodePolicy
from tests.cli_checks import assert_one_line_exit_2

NETS = str(Path(__file__).parent / "data" / "sequence_nets.py")
L, N, E, FFN, CLASSES = 20, 4, 32, 64, 5


def run(tmp_path, models: str, *args: str):
    path = tmp_path / "m.yaml"
    path.write_text(f"name: m\nmodels:\n{models}\nvariants: [conv]\n")
    return CliRunner().invoke(main, ["run", str(path), "--no-timing", "--out", str(tmp_path / "o"), "--json",
                                     "--trust-code", *args])


def test_named_token_ids_and_a_mask_reach_a_sequence_first_network(tmp_path):
    result = run(tmp_path, f"  - name: '{NETS}:tagger'\n    batch: {N}\n    input:\n"
                           f"      ids: {{shape: [{L}], dtype: int64, high: 100, batch_dim: 1}}\n"
                           f"      src_key_padding_mask: {{shape: [{L}], dtype: bool}}\n")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["rows"]
    assert row["status"] == "ok", row["error"]
    encoder = 2 * (L * (4 * E * E + 2 * E * FFN) + 2 * L * L * E)  # two layers, per sequence
    assert row["macs"] == encoder + L * E * CLASSES
    assert (row["per"], row["batch_dim"]) == ("sequence", 1) and "'encoder'" in row["batch_source"]
    assert row["shape"].endswith(f"@ ids={L}x{N} int64 + src_key_padding_mask={N}x{L} bool")
    assert row["in_channels"] is None and row["height"] is None and row["kmac_per_pixel"] is None


def test_a_sequence_first_network_fed_batch_first_is_an_error_row_saying_where_the_batch_goes(tmp_path):
    result = run(tmp_path, f"  - {{name: '{NETS}:lstm', batch: 3, input: [50, 16]}}")
    (row,) = json.loads(result.stdout)["rows"]
    assert row["status"] == "error"
    assert "batch_dim=0, but the model takes its batch at dim 1" in row["error"] and "batch_dim: 1" in row["error"]


def test_a_sequence_first_input_with_its_batch_dim_counts_per_sequence(tmp_path):
    result = run(tmp_path, f"  - {{name: '{NETS}:lstm', batch: 3, input: [{{shape: [50, 16], batch_dim: 1}}]}}")
    (row,) = json.loads(result.stdout)["rows"]
    assert row["status"] == "ok", row["error"]
    assert row["macs"] == 50 * 4 * 32 * (16 + 32) and row["batch"] == 3 and row["per"] == "sequence"


@pytest.mark.parametrize("spec,fragment", [
    ("{x: {dtype: int64}}", "models[0].input.x: needs 'shape'"),
    ("{x: {shape: [4], dtype: int8}}", "models[0].input.x.dtype: 'int8' is not valid"),
    ("{x: {shape: [4], dtype: int64}}", "an int64 input needs 'high'"),
    ("{x: {shape: [4], high: 3}}", "models[0].input.x.high: only integer inputs take 'high'"),
    ("{x: {shape: [4], batch_dim: 2}}", "models[0].input.x.batch_dim: must be 0..1"),
    ("{x: {shape: [4], colour: red}}", "models[0].input.x.colour: unknown key"),
    ("{'not a name': [4]}", "an input's name must be a Python identifier"),
    ("{}", "must name at least one input"),
    ("[{shape: []}]", "models[0].input[0].shape: must be a shape per sample"),
    ("[[4], 5]", "models[0].input[0]: must be an integer, got [4]"),
])
def test_malformed_inputs_are_one_line_exit_2(tmp_path, spec, fragment):
    assert_one_line_exit_2(run(tmp_path, f"  - {{name: '{NETS}:lstm', input: {spec}}}"), fragment)


values = st.recursive(
    st.one_of(st.integers(-2, 70), st.booleans(), st.none(), st.text(max_size=6),
              st.sampled_from(["int64", "bool", "float32", "shape", "batch_dim", "high", "dtype"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(["shape", "dtype", "batch_dim", "high", "x", "mask", "1"]),
                                            inner, max_size=4)),
    max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_any_input_entry_parses_or_fails_in_one_clean_line(value):
    raw = yaml.safe_dump({"models": [{"name": "resnet18", "input": value}], "variants": ["conv"]})
    try:
        suite = parse_config(raw, "fuzz.yaml", code=CodePolicy())
    except ConfigError as error:
        assert str(error).startswith("fuzz.yaml:") and "\n" not in str(error)
        return
    (workload,) = suite.models
    for spec in workload.input_specs:
        assert spec.shape and all(isinstance(n, int) and n >= 1 for n in spec.shape)
        assert 0 <= spec.batch_dim <= len(spec.shape)
        assert spec.high is None or spec.high >= 1
        assert spec.make(2, __import__("torch").Generator()).shape == spec.full_shape(2)


def test_a_count_that_holds_for_its_input_only_says_so_in_the_row_and_the_console(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(f"name: m\nmodels:\n  - {{name: '{NETS}:keep_positive', batch: 16, input: [8]}}\nvariants: [conv]\n")
    result = CliRunner().invoke(main, ["run", str(path), "--no-timing", "--out", str(tmp_path / "o"), "--trust-code"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "MACs hold for this input only: it ran aten.index x 1" in result.output
    row = json.loads((tmp_path / "o" / "results.jsonl").read_text().splitlines()[1])["row"]
    assert row["count_depends_on"] == "aten.index x 1"
