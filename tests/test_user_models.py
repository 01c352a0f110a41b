"""The user's own network as `file.py:callable` or `package.module:callable`, from a config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import convbench
from convbench.cli import main
from convbench.models.user import UserCodeError, build_user_model, load_callable
from tests.cli_checks import assert_one_line_exit_2

NET = str(Path(__file__).parent / "data" / "user_net.py")


def test_a_file_callable_builds_with_its_kwargs():
    model = build_user_model(f"{NET}:small_net", {"width": 4})
    assert model[0].out_channels == 4


def test_a_module_callable_loads():
    assert load_callable("convbench.models:build_model") is convbench.build_model


@pytest.mark.parametrize("entry,fragment", [
    ("nowhere_at_all:thing", "cannot import nowhere_at_all"),
    (f"{NET}:missing", "has no 'missing'"),
    (f"{NET}:NOT_CALLABLE", "is not callable"),
    ("no/such/file.py:f", "cannot import no/such/file.py"),
])
def test_a_bad_entry_is_one_line_naming_it(entry, fragment):
    with pytest.raises(ValueError, match=fragment) as info:
        load_callable(entry)
    assert entry in str(info.value) and "\n" not in str(info.value)


def test_a_failing_or_wrong_callable_names_the_entry():
    with pytest.raises(UserCodeError, match="calling it failed .*no weights here"):
        build_user_model(f"{NET}:broken")
    with pytest.raises(UserCodeError, match="returned int, not a torch.nn.Module"):
        build_user_model("builtins:int")


def config(tmp_path, models: str, variants: str = "[conv, separable]") -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(f"name: m\ntiming: {{min_span: 0, min_time: 0.01, rounds: 5, threads: 1, warmup_time: 0.0}}\n"
                    f"models:\n{models}\nvariants: {variants}\n")
    return path


def test_a_user_network_runs_end_to_end_with_a_swap(tmp_path):
    path = config(tmp_path, f"  - {{name: '{NET}:small_net', kwargs: {{width: 8}}, input: [3, 32, 32]}}")
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "o"), "--json", "--trust-code"])
    assert result.exit_code == 0, result.output
    rows = {row["variant"]: row for row in json.loads(result.stdout)["rows"]}
    conv, separable = rows["conv"], rows["separable"]
    assert conv["status"] == separable["status"] == "ok"
    assert conv["shape"].endswith(":small_net(width=8) @ 1x3x32x32") and conv["height"] == 32
    # 3 same-padded 3x3 convs replaced; the 5x5 with padding 1 is kept, and says why
    assert separable["convs_replaced"] == 3 and separable["convs_kept"] == 1
    assert "padding" in separable["convs_kept_why"]
    expected = (3 * 8 * 9 + 8 * 8 * 9) * 32 * 32 + 8 * 16 * 9 * 16 * 16 + 16 * 16 * 25 * 14 * 14 + 16 * 10
    assert conv["macs"] == expected
    assert separable["latency_vs_baseline"] > 0
    table = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "o2"), "--trust-code"], env={"COLUMNS": "250"})
    assert "small_net" in table.output and "replaced 3 convs, kept 1" in table.output


def test_skip_unfit_false_makes_an_unfit_conv_a_skipped_row_naming_it(tmp_path):
    path = config(tmp_path, f"  - {{name: '{NET}:small_net', input: [3, 16, 16], skip_unfit: false}}")
    result = CliRunner().invoke(main, ["run", str(path), "--no-timing", "--out", str(tmp_path / "o"), "--json", "--trust-code"])
    rows = {row["variant"]: row for row in json.loads(result.stdout)["rows"]}
    assert rows["separable"]["status"] == "skipped" and "cannot replace conv '6'" in rows["separable"]["error"]


def test_a_network_with_two_inputs(tmp_path):
    path = config(tmp_path, f"  - {{name: '{NET}:TwoInputs', input: [[3, 8, 8], [1, 8, 8]]}}", "[conv]")
    result = CliRunner().invoke(main, ["run", str(path), "--no-timing", "--out", str(tmp_path / "o"), "--json", "--trust-code"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["rows"]
    assert row["macs"] == (3 + 1) * 4 * 9 * 64 and row["shape"].endswith("@ 1x3x8x8 + 1x1x8x8")


@pytest.mark.parametrize("models,fragment", [
    ("  - {name: 'nowhere_at_all:f'}", "models[0].name: model 'nowhere_at_all:f': cannot import"),
    (f"  - {{name: '{NET}:small_net', input: [3, 0, 8]}}", "models[0].input[1]: must be >= 1"),
    (f"  - {{name: '{NET}:small_net', input: [3, 8, 8], size: 8}}", "give input or size, not both"),
    (f"  - {{name: '{NET}:small_net', kwargs: [1]}}", "models[0].kwargs: must be a mapping"),
    ("  - {name: resnet51}", "unknown model 'resnet51'; did you mean 'resnet50'"),
])
def test_bad_model_entries_are_one_line_exit_2(tmp_path, models, fragment):
    assert_one_line_exit_2(CliRunner().invoke(main, ["run", str(config(tmp_path, models)), "--trust-code"]), fragment)


def test_compare_and_show_take_a_model():
    runner = CliRunner()
    result = runner.invoke(main, ["compare", "separable", "--model", f"{NET}:small_net", "--input", "3,32,32",
                                  "--quick", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["variant"]: row for row in json.loads(result.stdout)["rows"]}
    assert rows["separable"]["convs_replaced"] == 3 and rows["conv"]["shape"].endswith("@ 1x3x32x32")
    shown = runner.invoke(main, ["show", "--model", "resnet50", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["cost"]["params"] == 25_557_032
    swapped = runner.invoke(main, ["show", "group", "--model", f"{NET}:small_net", "--input", "3,16,16"],
                            env={"COLUMNS": "200"})
    assert swapped.exit_code == 0 and "replaced" in swapped.output


@pytest.mark.parametrize("args,fragment", [
    (["compare", "separable", "--model", "nowhere:f"], "cannot import nowhere"),
    (["compare", "separable", "--model", "resnet18", "--input", "3,x,9"], "--input '3,x,9'"),
    (["show"], "name a VARIANT"),
])
def test_bad_model_options_are_one_line_exit_2(args, fragment):
    assert_one_line_exit_2(CliRunner().invoke(main, args), fragment)
