"""Config validation: every bad input names the file, line and field, and what would be valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from convbench.plan.expand import make_plan
from convbench.plan.config import ConfigError
from convbench.plan.loading import load_config, parse_config

CONFIGS = sorted(Path(__file__).resolve().parent.parent.joinpath("configs").glob("*.yaml"))
GOOD = """\
name: t
baseline: conv
devices: [cpu]
timing: {min_span: 0, min_time: 0.01, rounds: 5, threads: 1}
shapes:
  - {batch: 2, in_channels: 8, out_channels: 16, kernel_size: 3, size: 8}
  - {in_channels: 8, stride: 2, height: 8, width: 12}
sweep: {kernel_size: [3, 5]}
variants:
  - conv
  - {name: group, groups: 4}
  - {name: dsc}
"""


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_are_valid(path):
    if "own_code" in str(path):  # names code: valid only with consent (tests/test_code_consent.py runs it)
        with pytest.raises(ConfigError, match="--trust-code"):
            load_config(path)
        return
    suite = load_config(path)
    assert make_plan(suite).cases


def test_defaults_and_sweep_expansion():
    suite = parse_config(GOOD, "t.yaml")
    assert len(suite.shapes) == 4  # 2 shapes x 2 kernel sizes
    first = suite.shapes[0]
    assert (first.batch, first.in_channels, first.out_channels, first.kernel_size, first.height,
            first.width) == (2, 8, 16, 3, 8, 8)
    second = suite.shapes[2]
    assert (second.batch, second.out_channels, second.stride, second.height, second.width) == (1, 8, 2, 8, 12)
    assert [v.label for v in suite.variants] == ["conv", "group(groups=4)", "separable"]
    assert suite.timing.rounds == 5 and suite.timing.threads == 1
    assert len(make_plan(suite).cases) == 4 * 3


def test_cases_put_the_baseline_first():
    suite = parse_config(GOOD.replace("baseline: conv", "baseline: separable"))
    assert [r.name for r in make_plan(suite).sessions[0].requests] == ["separable", "conv", "group"]


@pytest.mark.parametrize("change,expected", [
    (("variants:\n  - conv", "variants:\n  - octav"), "t.yaml:10: variants[0]: unknown variant 'octav'; did you mean 'octave'?"),
    (("{name: group, groups: 4}", "{name: group, grops: 4}"), "t.yaml:11: variants[1].grops: unknown parameter 'grops' for group; did you mean 'groups'?"),
    (("{name: group, groups: 4}", "{name: group, groups: four}"), "t.yaml:11: variants[1]: group: parameter 'groups' must be int"),
    (("timing:", "timming:"), "t.yaml:4: timming: unknown key 'timming'; did you mean 'timing'?"),
    (("rounds: 5", "rounds: 2"), "t.yaml:4: timing.rounds: must be >= 5"),
    (("min_time: 0.01", "min_time: soon"), "t.yaml:4: timing.min_time: must be a number of seconds"),
    (("size: 8}", "size: -8}"), "t.yaml:6: shapes[0].size: must be >= 1, got -8"),
    (("kernel_size: 3, size: 8}", "kernel_size: 3, sise: 8}"), "t.yaml:6: shapes[0].sise: unknown key 'sise'; did you mean 'size'?"),
    (("in_channels: 8, out_channels: 16", "in_channels: 8.5, out_channels: 16"), "t.yaml:6: shapes[0].in_channels: must be an integer, got 8.5"),
    (("devices: [cpu]", "devices: [gpu]"), "t.yaml:3: devices[0]: 'gpu' is not valid; choose one of cpu, cuda, auto"),
    (("[3, 5]", "[3, 0]"), "t.yaml:8: sweep.kernel_size[1]: must be >= 1"),
    (("baseline: conv", "baseline: cnv"), "t.yaml:2: baseline: unknown variant 'cnv'; did you mean 'conv'?"),
    (("{in_channels: 8, stride: 2, height: 8, width: 12}", "{in_channels: 8, stride: 2, height: 8}"), "t.yaml:7: shapes[1]: needs size"),
    (("shapes:\n", "shapes: oops\nx:\n"), "unknown key 'x'"),
    (("- {name: dsc}", "- {groups: 2}"), "t.yaml:12: variants[2]: a variant given as a mapping needs 'name'"),
])
def test_bad_input_is_located_and_explained(change, expected):
    old, new = change
    assert old in GOOD
    with pytest.raises(ConfigError) as info:
        parse_config(GOOD.replace(old, new, 1), "t.yaml")
    assert str(info.value).startswith(expected) or expected in str(info.value)


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(ConfigError, match=r"t.yaml:7: YAML syntax error: .*starts on line 6"):
        parse_config(GOOD.replace("size: 8}", "size: 8"), "t.yaml")


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")


MODELS = """\
name: nets
models:
  - {name: resnet18, size: 64}
  - {name: mobilenetv3_small, batch: 2, where: {min_kernel: 5, groups: depthwise}}
variants: [conv, separable]
"""


def test_models_section():
    suite = parse_config(MODELS, "n.yaml")
    assert suite.shapes == []
    assert [m.label for m in suite.models] == [
        "resnet18 @ 1x3x64x64", "mobilenetv3_small @ 2x3x224x224, where min_kernel=5, groups=depthwise"]
    assert len(make_plan(suite).cases) == 4


@pytest.mark.parametrize("old,new,expected", [
    ("resnet18, size", "resnet-18, size", "n.yaml:3: models[0].name: unknown model 'resnet-18'; did you mean 'resnet18'?"),
    ("groups: depthwise", "groups: all", "n.yaml:4: models[1].where.groups: 'all' is not valid"),
    ("min_kernel: 5", "min_kernal: 5", "n.yaml:4: models[1].where.min_kernal: unknown key 'min_kernal'"),
    ("size: 64", "size: 16", "n.yaml:3: models[0].size: must be >= 32"),
])
def test_bad_models_are_located(old, new, expected):
    with pytest.raises(ConfigError) as info:
        parse_config(MODELS.replace(old, new), "n.yaml")
    assert str(info.value).startswith(expected)


SWEPT = """\
shapes: [{in_channels: 16, size: 8}]
sweep: {groups: [2, 4, 8], "octave.alpha_in,alpha_out": [0.25, 0.5], kernel_size: [3, 5]}
variants: [conv, group, octave, {name: dilated, dilation: 3}]
"""


def test_sweep_varies_variant_parameters_and_labels_say_which():
    suite = parse_config(SWEPT)
    assert [v.label for v in suite.variants] == [
        "conv", "group(groups=2)", "group(groups=4)", "group(groups=8)",
        "octave(alpha_in=0.25, alpha_out=0.25)", "octave(alpha_in=0.5, alpha_out=0.5)", "dilated(dilation=3)"]
    assert [s.kernel_size for s in suite.shapes] == [3, 5]
    assert len(make_plan(suite).cases) == 2 * 7


def test_a_sweep_key_for_one_variant_leaves_the_others_alone():
    suite = parse_config("shapes: [{in_channels: 16, size: 8}]\nsweep: {group.groups: [2, 16]}\n"
                         "variants: [conv, group, {name: group, groups: 4, bias: true}, depthwise]")
    assert [v.label for v in suite.variants] == [
        "conv", "group(groups=2)", "group(groups=16)", "group(groups=2, bias=True)", "group(groups=16, bias=True)",
        "depthwise"]


@pytest.mark.parametrize("sweep,fragment", [
    ("{grups: [2]}", "sweep.grups: unknown key 'grups': neither a shape key nor a parameter of any variant "
                     "listed; did you mean 'groups'?"),
    ("{octve.alpha_in: [0.1]}", "no variant 'octve' in variants to sweep; did you mean 'octave'?"),
    ("{group.alpha_in: [0.1]}", "unknown key 'alpha_in': neither a shape key nor a parameter of group"),
    ("{groups: []}", "sweep.groups: must be a non-empty list"),
    ("{groups: [0]}", "groups"),
    ("{octave.alpha_in: [1.5]}", "alpha_in"),
    ("[groups]", "sweep: must be a mapping"),
])
def test_bad_parameter_sweeps_are_located_errors(sweep, fragment):
    with pytest.raises(ConfigError) as error:
        parse_config(f"shapes: [{{in_channels: 16, size: 8}}]\nsweep: {sweep}\nvariants: [group, octave]", "s.yaml")
    assert str(error.value).startswith("s.yaml:2:") and fragment in str(error.value), str(error.value)
