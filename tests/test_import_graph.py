"""Imports run one way: no two modules of lemmaflow import each other, directly or through others.

Every import statement counts, including imports inside functions (a lazy import still ties
the two modules together); strings, such as docstring examples, do not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
# installed name -> folder (pyproject's package-dir)
PACKAGES = {"lemmaflow": "lemmaflow", "lemmaflow.agents": "agents", "lemmaflow.tools": "tools",
            "lemmaflow.skills_library": "skills_library", "lemmaflow.sandboxes": "sandboxes"}


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for name, folder in PACKAGES.items():
        for f in (ROOT / folder).rglob("*.py"):
            rel = f.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if name == "lemmaflow" and parts and parts[0] in ("agents", "tools", "skills_library", "sandboxes"):
                continue
            mods[".".join([name, *parts])] = f
    return mods


def import_graph() -> nx.DiGraph:
    mods = _modules()
    g = nx.DiGraph()
    for mod, path in mods.items():
        g.add_node(mod)
        pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = pkg.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                # `from pkg import sub` imports the submodule; `from pkg import NAME` runs pkg itself
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                targets = subs + ([base] if len(subs) < len(node.names) else [])
            for t in targets:
                if t in mods and t != mod:
                    g.add_edge(mod, t)
    return g


def cycles() -> list[list[str]]:
    return sorted(sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1)


def test_the_graph_sees_real_imports():
    g = import_graph()
    assert g.has_edge("lemmaflow.agents.spec", "lemmaflow.agents.graph")  # a plain relative import
    assert g.number_of_edges() > 100


def test_no_import_circles():
    found = cycles()
    assert found == [], "\n".join(" <-> ".join(c) for c in found)
