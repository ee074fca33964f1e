"""MkDocs hooks: put the benchmark results (kept beside the benchmarks, outside docs/) into the site.

``benchmarks/RESULTS.md`` and the plots it and the pages show live with the benchmarks that
produce them; the site gets them as generated pages, and links written for a reader of the
repository (``../benchmarks/RESULTS.md#...``) are rewritten to the site's copy. Links to
other files outside docs/ (examples, scripts) become links to nothing: they are shown as code.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
_RESULTS_LINK = re.compile(r"\]\(\.\./benchmarks/RESULTS\.md(#[^)]*)?\)")
_BENCH_DIR_LINK = re.compile(r"\]\(\.\./benchmarks/embedded_bench/?\)")
_OUTSIDE_LINK = re.compile(r"\[([^\]]+)\]\(\.\./([^)#]*)(?:#[^)]*)?\)")  # any other file of the repository


# pyproject maps the card's folders into the lemmaflow namespace (agents/ -> lemmaflow.agents, ...);
# griffe reads source trees, so it gets that layout as a tree of links.
PACKAGE_DIRS = {"agents": "agents", "tools": "tools", "skills_library": "skills_library", "sandboxes": "sandboxes"}
API_TREE = ROOT / "build" / "apidocs"


def make_api_tree() -> None:
    pkg = API_TREE / "lemmaflow"
    pkg.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for p in (ROOT / "lemmaflow").iterdir() if p.suffix == ".py" or p.is_dir()}
    wanted.update({name: ROOT / folder for name, folder in PACKAGE_DIRS.items()})
    for name, target in wanted.items():
        link = pkg / name
        if link.is_symlink() or link.is_file():
            link.unlink()
        if name == "__init__.py":  # a copy: griffe follows a linked __init__ back to the real folder
            link.write_text(target.read_text(encoding="utf-8"), encoding="utf-8")
        else:
            link.symlink_to(target)


# Made when MkDocs loads this hook (every config load, `mkdocs serve` reloads included), i.e. before
# any plugin's on_config: mkdocstrings drops a search path that does not exist yet when it configures
# itself (a fresh clone has no build/ folder).
make_api_tree()


def on_files(files, config):
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    # RESULTS.md links relative to benchmarks/: its images move with it into results/.
    files.append(File.generated(config, "results.md", content=_results_page(results)))
    for png in sorted((ROOT / "benchmarks").rglob("*.png")):
        rel = png.relative_to(ROOT / "benchmarks")
        files.append(File.generated(config, f"results/{rel.as_posix()}", abs_src_path=str(png)))
    return files


def _results_page(text: str) -> str:
    text = re.sub(r"\]\((?!https?:|#)([^)]+\.png)\)", r"](results/\1)", text)
    text = re.sub(r"\[([^\]]+)\]\((?!https?:|#)([^)]+)\)", lambda m: m.group(0) if m.group(2).endswith((".png", ".md"))
                  and not m.group(2).startswith("..") else f"{m.group(1)} (`benchmarks/{m.group(2)}`)", text)
    return text


def on_page_markdown(markdown, page, config, files):
    markdown = _RESULTS_LINK.sub(lambda m: f"](results.md{m.group(1) or ''})", markdown)
    markdown = _BENCH_DIR_LINK.sub("](results.md)", markdown)
    return _OUTSIDE_LINK.sub(lambda m: f"{m.group(1)} (`{m.group(2)}`)", markdown)
