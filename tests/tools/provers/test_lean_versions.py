"""Lean/Mathlib/REPL versions as a client learns them: `#eval Lean.versionString` answered by the REPL
double, Mathlib's pin in the project's lake-manifest.json, the REPL checkout's toolchain and commit."""

from __future__ import annotations

import json

from lemmaflow.tools.provers.lean_repl import LeanRepl, fake_repl_command
from lemmaflow.tools.provers.lean_versions import (
    VERSION_COMMAND,
    lean_versions,
    mathlib_version,
    parse_lean_version,
    repl_version,
)

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_the_double_answers_the_version_command_like_the_repl():
    with LeanRepl(fake_repl_command(), env_vars={"LEMMAFLOW_FAKE_LEAN_VERSION": "4.21.0-rc3"}) as repl:
        answer = repl.command(VERSION_COMMAND)
        assert [(m.severity, m.data) for m in answer.messages] == [("info", '"4.21.0-rc3"')]
        assert parse_lean_version(answer.messages) == "4.21.0-rc3"
    with LeanRepl(fake_repl_command()) as repl:  # by default a version no real Lean has
        assert lean_versions(repl)["lean"] == "4.19.0-fake"


def test_parse_lean_version_reads_only_a_version_literal():
    assert parse_lean_version([{"severity": "info", "data": '"4.33.0-rc2"'}]) == "4.33.0-rc2"
    assert parse_lean_version([{"severity": "information", "data": "4.9.0"}]) == "4.9.0"
    assert parse_lean_version([{"severity": "error", "data": '"4.9.0"'}]) is None
    assert parse_lean_version([{"severity": "info", "data": "unknown identifier"}]) is None


def test_mathlib_from_the_project_manifest(tmp_path):
    assert mathlib_version(tmp_path) is None
    (tmp_path / "lake-manifest.json").write_text(json.dumps({"name": "mathproj", "packages": [
        {"name": "batteries", "rev": "aaa"}, {"name": "mathlib", "rev": SHA, "inputRev": "v4.19.0"}]}))
    assert mathlib_version(tmp_path) == f"v4.19.0@{SHA}"
    # the project is Mathlib itself: its own commit
    me = tmp_path / "mathlib4"
    (me / ".git" / "refs" / "heads").mkdir(parents=True)
    (me / "lake-manifest.json").write_text(json.dumps({"name": "mathlib", "packages": []}))
    (me / ".git" / "HEAD").write_text("ref: refs/heads/master\n")
    (me / ".git" / "refs" / "heads" / "master").write_text(SHA + "\n")
    assert mathlib_version(me) == SHA


def test_repl_from_its_checkout_or_the_manifest(tmp_path):
    root = tmp_path / "repl"
    (root / ".lake" / "build" / "bin").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "lean-toolchain").write_text("leanprover/lean4:v4.19.0\n")
    (root / ".git" / "HEAD").write_text(SHA + "\n")  # detached at a tag
    binary = str(root / ".lake" / "build" / "bin" / "repl")
    assert repl_version(["lake", "env", binary]) == f"v4.19.0@{SHA}"
    project = tmp_path / "proj"
    project.mkdir()
    (project / "lake-manifest.json").write_text(json.dumps({"packages": [{"name": "REPL", "rev": "abc123"}]}))
    assert repl_version(["lake", "exe", "repl"], project) == "abc123"
    assert repl_version(["python", "fake.py"]) is None


def test_lean_versions_of_a_repl_in_a_project(tmp_path):
    (tmp_path / "lake-manifest.json").write_text(json.dumps({"packages": [{"name": "mathlib", "rev": SHA}]}))
    # Version reading, not confinement: as root a confined REPL runs under a uid of its own, which cannot
    # enter pytest's private (0700) tmp folders (docs/prover-confinement.md says what a project needs).
    with LeanRepl(fake_repl_command(), cwd=str(tmp_path), confine=False) as repl:
        assert lean_versions(repl) == {"lean": "4.19.0-fake", "mathlib": SHA, "repl": "unknown"}
