"""The documentation works: every Python block in docs/ and the README runs, and the site builds.

A block runs as a script in a scratch folder (with ``runs/`` and a link to ``examples/``). A comment
``<!-- test: KIND -->`` on the line before a block says what it needs:

- none: runs here on the CPU with no model (scripted models, Coq, sandboxes, SQLite);
- ``embedded``: the embedded model (the ``embedded`` pytest mark);
- ``lean-double``: a Lean REPL; runs against the shipped REPL double (``LEMMAFLOW_LEAN_REPL``);
- ``skip: REASON``: cannot run here (a GPU); reported as skipped with the reason.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"(?:<!--\s*test:\s*(?P<kind>[^>]*?)\s*-->\s*\n)?```python\n(?P<code>.*?)^```[ \t]*$", re.S | re.M)


def doc_blocks() -> list:
    out, seen = [], set()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for k, m in enumerate(_BLOCK.finditer(text), 1):
            code, kind = m.group("code"), (m.group("kind") or "").strip()
            if code in seen:  # the README repeats getting-started's example: run it once
                continue
            seen.add(code)
            rel = path.relative_to(ROOT).as_posix()
            marks = [pytest.mark.embedded] if kind == "embedded" else []
            if kind.startswith("skip:"):
                marks.append(pytest.mark.skip(reason=f"{rel} block {k}: {kind[5:].strip()}"))
            out.append(pytest.param(code, kind, id=f"{rel}#{k}", marks=marks))
    return out


def test_blocks_are_found():
    ids = [p.id for p in doc_blocks()]
    assert "README.md#1" in ids and any(i.startswith("docs/sandboxes.md#") for i in ids)
    kinds = {p.values[1] for p in doc_blocks()}
    assert kinds <= {"", "embedded", "lean-double"} | {k for k in kinds if k.startswith("skip:")}, kinds


@pytest.mark.parametrize("code,kind", doc_blocks())
def test_doc_block_runs(tmp_path, code, kind):
    (tmp_path / "runs").mkdir()
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if kind == "lean-double":
        # the double's file, not `-m lemmaflow...`: a confined prover sees that one file, not the package
        from lemmaflow.tools.provers.lean_repl import fake_repl_command

        env["LEMMAFLOW_LEAN_REPL"] = shlex.join(fake_repl_command())
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, f"stdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}"


CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stderr[-4000:]
    return out


def test_site_builds_strictly_with_reference_and_results(site):
    assert (site / "index.html").exists() and (site / "getting-started" / "index.html").exists()
    ref = (site / "reference" / "runtime" / "index.html").read_text()
    assert "lemmaflow.agents.graph" in ref and "Pipeline" in ref and "BatchRunner" in ref  # from the docstrings
    results = (site / "results" / "index.html").read_text()
    assert "bench.png" in results and (site / "results" / "embedded_bench" / "bench.png").exists()
    # links written for the repository (../benchmarks/RESULTS.md#...) point at the site's results page
    assert "../benchmarks/RESULTS.md" not in (site / "verification" / "index.html").read_text()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (scripts/setup.sh installs it)")
@pytest.mark.parametrize("page,text", [("index.html", "Two commands"), ("reference/runtime/index.html", "BatchRunner")])
def test_site_pages_render_in_headless_chromium(site, tmp_path, page, text):
    from PIL import Image

    base = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    url = (site / page).as_uri()
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    assert text in dom and "md-header" in dom  # the Material theme's header is there
    shot = tmp_path / "shot.png"
    subprocess.run([*base, f"--screenshot={shot}", "--window-size=1280,860", url], capture_output=True, timeout=120)
    with Image.open(shot) as im:
        assert im.size == (1280, 860)
        assert len(im.convert("RGB").getcolors(maxcolors=1 << 20)) > 50  # text and theme, not a blank page
