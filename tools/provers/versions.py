"""What a prover reports about its own version: ``{"coq": "8.16.1"}``, ``{"lean": ..., "mathlib": ..., "repl": ...}``.

Results in theorem proving differ across Coq, Lean and Mathlib versions (a
tactic renamed, a lemma moved), so every ``prove`` report, trace and library
entry records :meth:`Prover.versions`. This module asks the tools themselves:

- Coq: ``coqc --version`` ("The Coq Proof Assistant, version 8.16.1"), once per binary;
- Lean: the REPL answers ``#eval Lean.versionString`` (an ``info`` message,
  e.g. ``"4.15.0"``); Mathlib's and the REPL's revisions come from the Lake
  manifests (``lake-manifest.json`` of the project the REPL runs in, and of the
  REPL's own checkout when its binary lies in ``<repl>/.lake/build/bin``).
  What cannot be found is ``"unknown"`` (the test double reports nothing).

Example::

    >>> from lemmaflow.tools.provers.versions import parse_coq_version
    >>> parse_coq_version("The Coq Proof Assistant, version 8.16.1\\ncompiled with OCaml 4.13.1")
    '8.16.1'
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Sequence

__all__ = ["UNKNOWN", "coq_versions", "lake_revision", "lean_versions_from", "parse_coq_version",
           "parse_lean_version"]

UNKNOWN = "unknown"


def parse_coq_version(text: str) -> str:
    m = re.search(r"version\s+(\d+(?:\.\d+)+(?:[+~.\w-]*)?)", text)
    return m.group(1) if m else UNKNOWN


@functools.lru_cache(maxsize=8)
def _coq_version(binary: str) -> str:
    path = shutil.which(binary) or binary
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    return parse_coq_version(out.stdout + out.stderr)


def coq_versions(binary: str = "coqc") -> dict[str, str]:
    """``{"coq": "8.16.1"}`` from ``coqc --version`` (``"unknown"`` when it cannot run)."""
    return {"coq": _coq_version(binary)}


def parse_lean_version(data: str) -> str:
    """The version in an ``#eval Lean.versionString`` answer (``"4.15.0"`` with or without quotes)."""
    m = re.search(r"\d+\.\d+\.\d+[\w.+-]*", data)
    return m.group(0) if m else UNKNOWN


def lake_revision(manifest: Path, package: str) -> str | None:
    """A package's revision in a ``lake-manifest.json`` (12 hex digits, or its tag), None if absent."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for pkg in data.get("packages", []) if isinstance(data, dict) else []:
        if isinstance(pkg, dict) and str(pkg.get("name", "")).lower() == package.lower():
            wanted = str(pkg.get("inputRev") or "")
            if wanted and wanted not in ("main", "master"):
                return wanted  # a tag such as v4.15.0
            return str(pkg.get("rev") or "")[:12] or None
    return None


def _git_head(repo: Path) -> str | None:
    head = repo / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (repo / ".git" / ref[5:]).read_text().strip()[:12]
        return ref[:12]
    except OSError:
        return None


def lean_versions_from(lean_answer: Any, command: Sequence[str], cwd: str | None) -> dict[str, str]:
    """Versions from the REPL's answer to ``#eval Lean.versionString`` and the Lake manifests around it."""
    lean = UNKNOWN
    for m in getattr(lean_answer, "messages", []) or []:
        if not getattr(m, "is_error", False):
            lean = parse_lean_version(getattr(m, "data", ""))
            if lean != UNKNOWN:
                break
    mathlib = None
    if cwd:
        mathlib = lake_revision(Path(cwd) / "lake-manifest.json", "mathlib")
    repl = None
    for arg in command:
        p = Path(arg)
        if p.name == "repl" and len(p.parents) >= 4 and p.parent.name == "bin" and p.parents[2].name == ".lake":
            root = p.parents[3]
            repl = _git_head(root) or lake_revision(root / "lake-manifest.json", "repl")
            break
    return {"lean": lean, "mathlib": mathlib or UNKNOWN, "repl": repl or UNKNOWN}
