"""The installed package matches the source layout the product card fixes."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {"lemmaflow": "lemmaflow", "agents": "lemmaflow.agents", "tools": "lemmaflow.tools",
           "skills_library": "lemmaflow.skills_library", "sandboxes": "lemmaflow.sandboxes"}


def test_every_source_package_is_installed():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = set()
    for top, name in MAPPING.items():
        assert cfg["package-dir"][name] == top
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            found.add(".".join([name, *rel.parts]))
    assert found == listed, f"missing from pyproject packages: {found - listed}; stale: {listed - found}"


def test_no_bare_top_level_packages_and_typed():
    import lemmaflow

    assert (Path(lemmaflow.__file__).parent / "py.typed").exists()
    for name in lemmaflow.__all__:
        assert hasattr(lemmaflow, name), name
