"""Configs as attackers and tired users write them: every problem is one line naming the file and
line, exit code 2, never a traceback or a hang. The first tests are the reproducers of real
failures; the last is a fuzzer over generated configs."""

from __future__ import annotations

import os
import string
import time

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convbench.plan import yaml_loading as safe_yaml
from convbench.cli import main
from convbench.plan.config import ConfigError
from convbench.plan.loading import parse_config
from tests.cli_checks import assert_one_line_exit_2

VALID = b"shapes: [{in_channels: 8, size: 8}]\nvariants: [conv]\n"


def run_config(tmp_path, raw: bytes, *args: str):
    path = tmp_path / "c.yaml"
    path.write_bytes(raw)
    return CliRunner().invoke(main, ["run", str(path), "--no-timing", "--out", str(tmp_path / "o"), *args])


@pytest.mark.parametrize("raw,fragments", [
    (b"variants: [conv]\xff", ("c.yaml:1:", "not UTF-8")),
    ("variants: [conv]\n".encode("utf-16"), ("not UTF-8",)),
    (b"name: !foo 1\n" + VALID, ("c.yaml:1:", "name: the tag '!foo' is not allowed")),
    (b"name: !!python/name:os.system\n" + VALID, ("c.yaml:1:", "is not allowed")),
    (b"name: !!set 1\n" + VALID, ("is not allowed",)),
    (b"name: !!timestamp 1\n" + VALID, ("is not allowed",)),
    (b"name: !!float null\n" + VALID, ("c.yaml:1:", "name: 'null' is not a valid float")),
    (b"shapes: [{in_channels: 8, size: 8}]\nvariants: [{name: !!int conv}]\n",
     ("c.yaml:2:", "variants[0].name: 'conv' is not a valid int")),
    (b"? [a, b]\n: 1\n", ("c.yaml:1:", "a key must be a plain name")),
    (b"shapes: [{in_channels: 8, size: 8}]\nvariants: [{name: null}]\n", ("c.yaml:2:", "variants[0].name: unknown variant")),
    (b"shapes: [{in_channels: 8, size: 8}]\nvariants: [{name: []}]\n", ("c.yaml:2:", "variants[0].name: unknown variant")),
    (b"z: &r [*r]\n", ("c.yaml:1:", "an alias that contains itself")),
    (b'name: "\\U00110000"\n' + VALID, ("c.yaml:1:", "YAML syntax error")),
    (b"name: a\nname: b\n" + VALID, ("c.yaml:2:", "name: given twice (first on line 1)")),
    (b"shapes: [{in_channels: 8, in_channels: 9, size: 8}]\nvariants: [conv]\n", ("shapes[0].in_channels: given twice",)),
    (b"shapes: [{in_channels: 8, size: 8}]\nvariants: [{name: octave, alpha_in: 1.5}]\n",
     ("c.yaml:2:", "alpha_in=1.5 must be in [0, 1)")),
    (b"shapes: [{in_channels: 8, size: 8}]\nvariants: [{name: octave, alpha_in: .nan}]\n",
     ("c.yaml:2:", "must be a finite number")),
    (b"timing: {min_time: .inf}\n" + VALID, ("c.yaml:1:", "timing.min_time")),
    (b"[" * 5000, ("YAML syntax error",)),
])
def test_reproducers_are_one_line_exit_2(tmp_path, raw, fragments):
    assert_one_line_exit_2(run_config(tmp_path, raw), *fragments)


def test_an_alias_bomb_is_refused_quickly():
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    raw = ("\n".join(lines) + "\n").encode()
    assert len(raw) < 1000
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="more than 100,000 values once aliases are expanded"):
        parse_config(raw, "bomb.yaml")
    assert time.perf_counter() - start < 2.0


def test_an_oversized_file_is_refused(tmp_path):
    raw = b"# " + b"x" * safe_yaml.MAX_BYTES + b"\n" + VALID
    assert_one_line_exit_2(run_config(tmp_path, raw), "a config may be at most")


def test_merge_keys_are_supported_and_own_keys_win():
    suite = parse_config(b"shapes:\n  - &base {in_channels: 8, out_channels: 8, size: 8}\n"
                         b"  - {<<: *base, out_channels: 16}\nvariants: [conv]\n")
    assert [(s.in_channels, s.out_channels, s.height) for s in suite.shapes] == [(8, 8, 8), (8, 16, 8)]


def test_merge_of_a_non_mapping_is_refused():
    with pytest.raises(ConfigError, match="merge key"):
        parse_config(b"shapes: [{<<: [1, 2], in_channels: 8, size: 8}]\nvariants: [conv]\n", "m.yaml")


def test_a_valid_config_still_parses():
    suite = parse_config(VALID)
    assert suite.variants[0].name == "conv" and suite.shapes[0].in_channels == 8


keys = st.sampled_from(["name", "shapes", "variants", "timing", "sweep", "models", "baseline", "devices",
                        "dtype", "in_channels", "size", "min_time", "rounds", "alpha_in", "groups", "<<", "x"])
scalars = st.one_of(st.integers(-3, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                    st.none(), st.text(string.printable, max_size=8),
                    st.sampled_from(["conv", "octave", "group", ".nan", "-.inf", "!!set 1", "!foo x", "*a", "&a x"]))
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                         max_leaves=20)


numbers = st.one_of(st.integers(-2, 300), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
                    st.text(string.ascii_letters, max_size=3))
likely = st.one_of(st.integers(1, 64), st.integers(1, 64), st.integers(1, 64), numbers)  # mostly valid
variants = st.one_of(
    st.sampled_from(["conv", "depthwise", "octave", "group", "octav", "ac"]),
    st.fixed_dictionaries({"name": st.sampled_from(["octave", "group", "ac", "xsep"])},
                          optional={"alpha_in": numbers, "groups": numbers, "deploy": numbers, "padding": numbers}))
near_valid = st.fixed_dictionaries(
    {"shapes": st.lists(st.fixed_dictionaries({"in_channels": likely, "size": likely},
                                              optional={"stride": numbers, "kernel_size": likely}),
                        min_size=1, max_size=2),
     "variants": st.lists(variants, min_size=1, max_size=3)},
    optional={"timing": st.fixed_dictionaries({}, optional={"min_time": numbers, "rounds": numbers,
                                                            "processes": numbers, "margin": numbers}),
              "sweep": st.fixed_dictionaries({}, optional={"kernel_size": st.lists(likely, max_size=3)}),
              "name": st.text(string.printable, max_size=10)})


def _render(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, str):
        return value if value and value[0] in "!*&." else repr(value)
    return repr(value).replace("None", "null").replace("nan", ".nan").replace("inf", ".inf")


FUZZ_EXAMPLES = int(os.environ.get("CONVBENCH_FUZZ_EXAMPLES", "150"))  # thousands locally, a few seconds in CI


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(documents.map(lambda d: _render(d).encode()), near_valid.map(lambda d: _render(d).encode()),
                st.binary(max_size=200)))
def test_fuzzed_configs_parse_or_fail_in_one_clean_line(raw):
    try:
        parse_config(raw, "fuzz.yaml")
    except ConfigError as error:
        message = str(error)
        assert message.startswith("fuzz.yaml:") and "\n" not in message and "Traceback" not in message


def test_a_huge_sweep_is_refused_before_it_is_expanded():
    values = "[" + ", ".join(str(i) for i in range(1, 101)) + "]"
    raw = (f"shapes: [{{in_channels: 8, size: 8}}]\nsweep: {{kernel_size: {values}, stride: {values}, "
           f"batch: {values}}}\nvariants: [conv]\n").encode()
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="up to 1,000,000 cases .*more than the limit of 10,000"):
        parse_config(raw, "s.yaml")
    assert time.perf_counter() - start < 1.0


def test_max_cases_limits_and_raises_the_case_count(tmp_path):
    raw = b"shapes: [{in_channels: 8, size: 8}, {in_channels: 8, size: 16}]\nvariants: [conv, depthwise, group]\n"
    assert_one_line_exit_2(run_config(tmp_path, raw, "--max-cases", "5"), "6 cases", "--max-cases")
    assert run_config(tmp_path, raw, "--max-cases", "6").exit_code == 0
