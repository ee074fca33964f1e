"""The sandbox package's modules import one another one way only (no circles).

Every import counts, including ``if TYPE_CHECKING:`` blocks and imports inside
functions: a circle hidden there still couples the modules both ways.  And each
module imports on its own, in a fresh interpreter, before any other.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import lemmaflow.sandboxes as sandboxes

PKG = Path(sandboxes.__file__).resolve().parent
MODULES = sorted(p.stem for p in PKG.glob("*.py") if p.stem != "__init__")


def _imports(module: str) -> set[str]:
    """Sibling modules that ``module`` imports, anywhere in its source."""
    tree = ast.parse((PKG / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:  # from . import a, b
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lemmaflow.sandboxes."):
            found.add(node.module.split(".")[2])
    return {m for m in found if m in MODULES and m != module}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_no_import_circle_in_sandboxes():
    graph = {m: _imports(m) for m in MODULES}
    assert "pool" in graph["bwrap"] and "session" in graph["pool"]  # the checker sees real edges
    assert _cycle(graph) is None, f"import circle: {' -> '.join(_cycle(graph))}"
    # the layering the package documents: base <- session <- pool
    assert graph["base"] == set()
    assert "pool" not in graph["session"] and "session" not in graph["base"]


def test_cycle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", ["base", "session", "pool", "forkserver", "bwrap"])
def test_each_module_imports_first_in_a_fresh_interpreter(module):
    code = f"import lemmaflow.sandboxes.{module} as m; print(m.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"lemmaflow.sandboxes.{module}"
