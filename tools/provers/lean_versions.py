"""Which Lean, Mathlib and REPL a Lean backend runs, as a client can learn them.

Results differ across Lean and Mathlib versions, so a result records them. What is observable:

- **Lean**: the REPL elaborates ``#eval Lean.versionString`` and answers an ``info``
  message whose data is the version as a string literal (``"4.19.0"``). It needs
  no import, so it runs in a fresh environment in milliseconds; the same snippet
  works through a Kimina Lean Server.
- **Mathlib**: Lean has no version constant for it; the Lake project the REPL runs
  in (``$LEMMAFLOW_LEAN_CWD``) pins it in ``lake-manifest.json`` (the ``mathlib``
  package's ``rev``, a git commit, and ``inputRev``, the tag or branch asked for).
  When the project *is* Mathlib, its git ``HEAD``.
- **REPL**: the REPL has no version command; its checkout's ``lean-toolchain``
  (REPL tags follow Lean's: ``v4.19.0``) and git ``HEAD`` say which one it is, found
  from the command line (``.../repl/.lake/build/bin/repl``), or the ``REPL``
  package of the project's manifest when the project requires it.

Anything not found is ``"unknown"``; the test double reports its own Lean version
(``4.19.0-fake`` by default), never a real one.

Example (the double)::

    from lemmaflow.tools.provers.lean_repl import LeanRepl, fake_repl_command
    from lemmaflow.tools.provers.lean_versions import lean_versions

    with LeanRepl(fake_repl_command()) as repl:
        print(lean_versions(repl))   # {'lean': '4.19.0-fake', 'mathlib': 'unknown', 'repl': 'unknown'}
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

__all__ = ["UNKNOWN", "VERSION_COMMAND", "lean_versions", "mathlib_version", "parse_lean_version",
           "repl_version"]

UNKNOWN = "unknown"
VERSION_COMMAND = "#eval Lean.versionString"
_VERSION = re.compile(r'^"?(\d+\.\d+\.\d+[\w.+-]*)"?$')


def parse_lean_version(messages: Iterable[Any]) -> str | None:
    """The version in the answer to :data:`VERSION_COMMAND` (messages as dicts or ``ReplMessage``)."""
    for m in messages:
        severity = m.get("severity") if isinstance(m, dict) else getattr(m, "severity", None)
        data = (m.get("data") if isinstance(m, dict) else getattr(m, "data", "")) or ""
        if severity in ("info", "information"):
            hit = _VERSION.match(data.strip())
            if hit:
                return hit.group(1)
    return None


def _git_head(root: Path) -> str | None:
    """The commit a checkout is at, read from ``.git`` (no git binary needed)."""
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head
        ref = head.split(None, 1)[1]
        loose = git / ref
        if loose.exists():
            return loose.read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except (OSError, IndexError):
        return None
    return None


def _manifest(project: Path) -> dict[str, Any] | None:
    try:
        return json.loads((project / "lake-manifest.json").read_text())
    except (OSError, ValueError):
        return None


def _package(manifest: dict[str, Any], name: str) -> str | None:
    for pkg in manifest.get("packages", []):
        if str(pkg.get("name", "")).lower() == name.lower():
            rev, asked = pkg.get("rev"), pkg.get("inputRev")
            if rev and asked and asked != rev:
                return f"{asked}@{rev}"
            return rev or asked
    return None


def mathlib_version(project_dir: str | Path | None) -> str | None:
    """Mathlib's ``inputRev@rev`` (or ``rev``) from the project's ``lake-manifest.json``, else None."""
    if not project_dir:
        return None
    project = Path(project_dir)
    manifest = _manifest(project)
    if manifest is None:
        return None
    if str(manifest.get("name", "")).lower() == "mathlib":  # the project is Mathlib itself
        return _git_head(project)
    return _package(manifest, "mathlib")


def repl_version(command_line: Sequence[str], project_dir: str | Path | None = None) -> str | None:
    """The REPL's toolchain tag and commit (``v4.19.0@<sha>``) from its checkout, else None."""
    for arg in command_line:
        path = Path(arg)
        if path.name == "repl" and path.parent.match("*/.lake/build/bin"):
            root = path.parents[3]
            try:
                toolchain = (root / "lean-toolchain").read_text().strip().rsplit(":", 1)[-1]
            except OSError:
                toolchain = None
            head = _git_head(root)
            if toolchain or head:
                return "@".join(x for x in (toolchain, head) if x)
    if project_dir:
        manifest = _manifest(Path(project_dir))
        if manifest is not None:
            return _package(manifest, "REPL")
    return None


def lean_versions(repl: Any, command_line: Sequence[str] | None = None, project_dir: str | Path | None = None,
                  timeout_s: float = 60.0) -> dict[str, str]:
    """``{"lean", "mathlib", "repl"}`` for a started :class:`~.lean_repl.LeanRepl` (``"unknown"`` when not found).

    ``command_line``/``project_dir`` default to the REPL's own (its ``command_line`` and ``cwd``)."""
    answer = repl.command(VERSION_COMMAND, env=None, timeout_s=timeout_s)
    command_line = command_line if command_line is not None else list(getattr(repl, "command_line", ()))
    project_dir = project_dir if project_dir is not None else getattr(repl, "cwd", None)
    return {
        "lean": parse_lean_version(answer.messages) or UNKNOWN,
        "mathlib": mathlib_version(project_dir) or UNKNOWN,
        "repl": repl_version(command_line, project_dir) or UNKNOWN,
    }
