"""Every example in the README and the docs runs as written: each page's Python blocks in order in
one session (as a reader would run them; blocks with `...` placeholders are templates), every
`convbench` line of its shell blocks for real (timed commands counted only, with `--no-timing`),
every YAML block validated as a config; the README's table is what its command prints, and the
CLI reference the site builds lists every command and option `--help` shows."""

from __future__ import annotations

import ast
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

import convbench

from convbench.cli import main
from convbench.plan.code_entries import CodePolicy
from convbench.plan.config import ConfigError
from convbench.plan.expand import make_plan
from convbench.plan.loading import parse_config
from convbench.timing.stats import paired_ratio

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
PAGES = [page for page in PAGES if "results" not in page.relative_to(ROOT).parts[1:]]  # committed outputs


def blocks(page: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", page.read_text(), re.S)


def name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_the_readme_is_a_front_door():
    assert len(README.read_text().splitlines()) <= 150


# --- Python ---------------------------------------------------------------------------------------

PYTHON_PAGES = [page for page in PAGES if blocks(page, "python")]
TIMINGS = {"result", "timing", "on_ort"}  # what they print is a measurement, never an expected value


@pytest.fixture
def reader_dir(tmp_path, monkeypatch):
    """A directory a reader runs the examples in: the configs beside it, what they write inside."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    return tmp_path


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=name)
def test_a_pages_python_runs_in_order_and_prints_what_its_comments_say(page, reader_dir):
    namespace = {"__name__": "docs"}
    for block in blocks(page, "python"):
        if "..." in block:
            continue
        exec(compile(block, name(page), "exec"), namespace)
        for expression, shown in _shown_values(block):
            if expression.split(".")[0].split("(")[0] not in TIMINGS:
                assert _gives(eval(expression, namespace), shown), (name(page), expression, shown)
    if "result" in namespace:  # the interval is the one of its own rounds' ratios
        result = namespace["result"]
        expected = paired_ratio(result.round_ratios, [1.0] * len(result.round_ratios))
        assert (result.ratio_low, result.ratio_high) == (pytest.approx(expected.low), pytest.approx(expected.high))
    if page.name == "sweeps.md":  # the submitit example merged its two shards
        merged = pd.read_csv(reader_dir / "runs" / "quick-merged" / "results.csv")
        assert len(merged) == len(merged["case_id"].unique()) == 4


def _shown_values(block: str) -> list[tuple[str, str]]:
    """(expression, text) for each line that is an expression followed by a comment showing what
    it gives: a Python literal (a tuple may be followed by ``: why``), or a repr."""
    lines = block.splitlines()
    shown = []
    for i, line in enumerate(lines[:-1]):
        code = line.split("  #")[0].strip()
        if not code or "=" in code.replace("==", "") or code.startswith(("#", "print", "@")):
            continue
        comments = []
        for following in lines[i + 1:]:
            if not following.strip().startswith("#"):
                break
            comments.append(following.strip()[1:].strip())
        if not comments:
            continue
        text = " ".join(comments) if comments[0].startswith("[") else comments[0]
        if text.startswith("(") and "):" in text:
            text = text.split("):")[0] + ")"
        shown.append((code, text))
    return shown


def _gives(value: object, text: str) -> bool:
    try:
        return value == ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return repr(value) == text


def test_the_shown_values_are_found():
    """The check above reads the values the pages show (so it cannot pass by reading none)."""
    found = [expression for page in PYTHON_PAGES for block in blocks(page, "python")
             for expression, _ in _shown_values(block)]
    assert "convbench.variant_names()" in found and "cost.macs, cost.params, cost.kmac_per_pixel" in found
    assert len(found) >= 6, found


# --- Shell ----------------------------------------------------------------------------------------

SLURM = {"$SLURM_ARRAY_TASK_ID": "1", "$SLURM_ARRAY_TASK_COUNT": "8"}  # what a scheduler fills in


def test_the_sweeps_page_shows_the_slurm_examples_as_they_are():
    """The job script and the submitit sweep the SLURM test runs are the ones the page shows."""
    page = (ROOT / "docs" / "sweeps.md").read_text()
    for example in ("shards.sh", "sweep.py"):
        assert f"```{'bash' if example.endswith('.sh') else 'py'}\n" + (ROOT / "examples" / "slurm" / example).read_text() + "```" in page


def command_lines(page: Path) -> list[tuple[str, bool]]:
    """Each `convbench` line of a page's shell blocks, and whether it runs under a scheduler (a
    job script's line, or one after `sbatch`): those are checked, not run."""
    lines = []
    for block in blocks(page, "bash"):
        scheduled = "SBATCH" in block or "sbatch " in block
        for line in block.replace("\\\n", " ").splitlines():
            code = line.split(" #")[0].strip()
            for part in code.split("&&"):
                part = part.strip().removeprefix("exec ")
                if part.startswith(("convbench ", ".venv/bin/convbench ", "python -m convbench")):
                    for variable, value in SLURM.items():
                        part = part.replace(variable, value)
                    lines.append((part, scheduled))
    return lines


COMMANDS = [(page, line, scheduled) for page in PAGES for line, scheduled in command_lines(page)]
COUNTED_ONLY = ("run", "compare")  # timed for real in benchmarks/, counted here


def _args(line: str, tmp: Path) -> list[str]:
    line = line.replace("/tmp/", f"{tmp}/")
    words = shlex.split(line)
    words = words[3:] if words[0] == "python" else words[1:]
    return words


def test_every_command_line_is_collected():
    assert len(COMMANDS) >= 35 and {line.split()[1] for _, line, _ in COMMANDS if line.startswith("convbench")} >= {
        "run", "compare", "show", "list", "export", "plot", "merge", "env"}


def test_every_command_line_of_the_docs_runs(tmp_path, monkeypatch):
    """In the order a reader meets them, in one directory: a line that needs a run an earlier
    line made finds it. The committed runs are copied in, so nothing writes into results/."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("CONVBENCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    shutil.copytree(ROOT / "results" / "all-20261123-170937", tmp_path / "results" / "all-20261123-170937")
    (tmp_path / "figures").mkdir()
    registered = set(convbench.variant_names())
    try:
        ran = _run_commands(tmp_path)
    finally:  # a config's own variant is registered in this process: the other tests do not see it
        for variant in set(convbench.variant_names()) - registered:
            convbench.unregister_variant(variant)
    assert ran >= 30


def _run_commands(tmp_path: Path) -> int:
    ran = 0
    for page, line, scheduled in COMMANDS:
        args = _args(line, tmp_path) or ["--help"]
        if args[:2] == ["env", "--calibrate"] or scheduled:
            _parses(args, line)  # a minute of measuring the machine, or a scheduler's job: checked
            continue
        if args[0] in COUNTED_ONLY and "--plan" not in args and "--no-timing" not in args:
            args = [*args, "--no-timing"]
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, (name(page), line, result.output[-2000:])
        ran += 1
    return ran


def _parses(args: list[str], line: str) -> None:
    """A real command with real options and valid values; a path the job makes first (a shard's
    directory) is the only thing allowed to be missing."""
    command = main.get_command(click.Context(main), args[0])
    assert command is not None, line
    try:
        command.make_context(args[0], args[1:])
    except click.BadParameter as error:
        assert "does not exist" in str(error), (line, str(error))


def test_python_m_convbench_is_the_cli():
    done = subprocess.run([sys.executable, "-m", "convbench", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Usage:" in done.stdout and "run" in done.stdout


def test_the_readmes_table_is_what_its_command_prints():
    text = README.read_text()
    command = re.search(r"`(convbench export [^`]+--format markdown[^`]*)`", text).group(1)
    result = CliRunner().invoke(main, _args(command, ROOT), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    printed = next(part for part in result.output.split("\n\n") if part.startswith("| Variant"))
    assert printed.strip() in text


# --- YAML -----------------------------------------------------------------------------------------

YAML_BLOCKS = [(page, i, block) for page in PAGES for i, block in enumerate(blocks(page, "yaml"))]
BASE = {"name": "docs", "shapes": [{"in_channels": 8, "size": 8}], "variants": ["conv"]}


# The code the configs' examples name, as their comments describe it.
NETS = {
    "my_project/nets.py": """
from torch import nn


def build_net(width=16):
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1))
""",
    "nets.py": """
from torch import nn


class Tagger(nn.Module):
    \"\"\"ids (L, N) -> embedding -> sequence-first nn.TransformerEncoder.\"\"\"

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(30000, 32)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64), 1)

    def forward(self, ids, src_key_padding_mask=None):
        return self.encoder(self.embed(ids), src_key_padding_mask=src_key_padding_mask)


def tagger():
    return Tagger()


def lstm():
    return nn.LSTM(16, 32)
""",
}


@pytest.mark.parametrize("page,index,block", YAML_BLOCKS, ids=[f"{name(p)}-{i}" for p, i, _ in YAML_BLOCKS])
def test_every_config_of_the_docs_is_valid(page, index, block, tmp_path):
    """A block that is a whole config is read as it is; one that shows a few keys is read on a
    one-shape config; one that names code is refused untrusted and read trusted, beside that code."""
    for path, source in NETS.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(source)
    data = yaml.safe_load(block)
    if data.get("models"):  # a package users bring (torchvision, timm) is read where it is installed
        data["models"] = [m for m in data["models"] if _installed(str(m.get("name", "")))]
        block = yaml.safe_dump(data)
    whole = {"name", "variants"} <= set(data)
    text = block if whole else yaml.safe_dump({**BASE, **data})
    where = f"{name(page)} block {index}"
    if re.search(r"\.py:|\w:\w", " ".join(str(m.get("name", "")) for m in data.get("models", []))):
        with pytest.raises(ConfigError, match="--trust-code"):  # it names code: read only when trusted
            parse_config(text, where)
        suite = parse_config(text, where, code=CodePolicy(trusted=True, root=str(tmp_path)))
    else:
        suite = parse_config(text, where)
    assert make_plan(suite).cases


def _installed(entry: str) -> bool:
    module = entry.split(":")[0]
    return module.endswith(".py") or ":" not in entry or importlib.util.find_spec(module.split(".")[0]) is not None


def test_the_config_blocks_are_found():
    assert len(YAML_BLOCKS) >= 6


# --- The site -------------------------------------------------------------------------------------

def test_the_site_builds_strictly_and_its_cli_reference_lists_every_command_and_option(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocs_click")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    page = (tmp_path / "site" / "cli" / "index.html").read_text()
    for command_name, command in main.commands.items():
        assert f'id="convbench-{command_name}"' in page, command_name
        section = page.split(f'id="convbench-{command_name}"')[1].split('id="convbench-')[0]
        for param in command.params:
            for option in getattr(param, "opts", []):
                if option.startswith("-"):
                    assert option in section, (command_name, option)
