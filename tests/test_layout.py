"""The package's imports run one way, along its pipeline, and never in a circle.

Every ``convbench`` import in every module (at the top or inside a function) is read from the
source; a module may import only from its own layer or the layers below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "convbench"

# Bottom to top: the registry, the layers it holds, networks built of them, counting, runtimes,
# timing and profiling, results files, plans, presentation, runs, CLI.
LAYERS = [
    ("version", "registry"),
    ("variants",),
    ("models", "swap"),
    ("counting",),
    ("backends",),
    ("timing", "profiling"),
    ("store",),
    ("plan",),
    ("present",),
    ("suite",),
    ("cli",),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(name: str) -> set[str]:
    """The convbench modules ``name`` imports (``from convbench.x import y`` counts as convbench.x.y
    when that is a module, else convbench.x)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("convbench")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("convbench"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return {module for module in found if module in MODULES and module != name}


def layer(name: str) -> int | None:
    top = name.split(".")[1] if "." in name else None
    return next((i for i, names in enumerate(LAYERS) if top in names), None)


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph``, as the modules along it, or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


GRAPH = {name: imported(name) for name in MODULES}


def test_every_module_has_a_layer():
    assert [name for name in MODULES if name != "convbench" and name != "convbench.__main__"
            and layer(name) is None] == []


def test_no_import_cycle():
    inner = {name: targets - {"convbench"} for name, targets in GRAPH.items() if name != "convbench"}
    assert cycle(inner) is None


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) is not None))
def test_imports_run_down_the_pipeline(name):
    upward = [target for target in GRAPH[name] if layer(target) is None or layer(target) > layer(name)]
    assert upward == [], f"{name} imports {upward} from above its layer"


def test_the_cycle_finder_finds_a_planted_cycle():
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycle(planted) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set(), "d": {"a", "b"}}) is None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    lines = len(MODULES[name].read_text().splitlines())
    limit = 250 if name.startswith("convbench.cli") else 400
    assert lines <= limit, f"{name} has {lines} lines (at most {limit})"
