"""miniF2F-Lean4: every entry loads, has a statement that the check plan can read, and splits 244/244."""

from __future__ import annotations

import json

import pytest

from lemmaflow.tools.provers.lean_check import build_plan, statement_parts
from lemmaflow.tools.datasets import ChecksumError
from lemmaflow.tools.provers.minif2f_lean import load_minif2f_lean, read_minif2f_lean


def test_all_488_entries_load_with_statements():
    problems = load_minif2f_lean("all")
    assert len(problems) == 488 and len({p.name for p in problems}) == 488
    assert sum(p.split == "valid" for p in problems) == 244 == sum(p.split == "test" for p in problems)
    for p in problems:
        assert p.statement.startswith(f"theorem {p.name}") and p.statement.rstrip().endswith(":= by")
        assert p.header.startswith("import Mathlib") and p.goal.count("⊢") >= 1
        _, sig = statement_parts(p.statement, p.name)
        assert sig.strip()
        plan = build_plan(p.task("  norm_num"))
        assert plan.steps[1].text == p.statement + "  norm_num"
    assert [p.name for p in load_minif2f_lean("valid", limit=3)] == [p.name for p in problems if p.split == "valid"][:3]


def test_bad_rows_and_missing_files_are_clear_errors(tmp_path):
    folder = tmp_path / "minif2f_lean4"
    with pytest.raises(FileNotFoundError, match="minif2f_lean4/minif2f.jsonl: missing from the offline data copy"):
        load_minif2f_lean(data_dir=tmp_path)
    folder.mkdir()
    (folder / "minif2f.jsonl").write_text(json.dumps({"name": "x", "split": "valid"}) + "\n")
    # an offline copy is verified against the pinned sha256 before it is parsed
    with pytest.raises(ChecksumError, match="minif2f.jsonl: sha256 .* is not the pinned"):
        load_minif2f_lean(data_dir=tmp_path)
    with pytest.raises(ValueError, match="minif2f.jsonl:1: not a miniF2F-Lean4 row"):
        read_minif2f_lean(folder / "minif2f.jsonl")
