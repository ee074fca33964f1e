"""Tests for lemmaflow.tools.datasets on the real benchmark data (offline copy) and on hand-made JSONL files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lemmaflow.tools.answers import AnswerChecker, extract_answer
from lemmaflow.tools.datasets import (
    ChecksumError,
    Problem,
    data_root,
    dataset_path,
    grade,
    gsm8k_gold,
    load_gsm8k,
    load_math500,
    load_problems_jsonl,
)


def test_load_gsm8k(gsm8k: list[Problem]) -> None:
    assert len(gsm8k) == 1319
    first = gsm8k[0]
    assert (first.id, first.gold, first.source) == ("gsm8k-0", "18", "gsm8k")
    assert first.question.startswith("Janet")
    assert first.meta["solution"].endswith("#### 18")
    assert [p.id for p in gsm8k] == [f"gsm8k-{i}" for i in range(1319)]
    assert all(p.gold and "," not in p.gold and int(p.gold) == int(p.gold) for p in gsm8k)


def test_gsm8k_test_200_is_a_prefix(gsm8k: list[Problem]) -> None:
    small = load_gsm8k("test_200")
    assert len(small) == 200
    assert [(p.id, p.question, p.gold) for p in small] == [(p.id, p.question, p.gold) for p in gsm8k[:200]]
    assert load_gsm8k(limit=3) == gsm8k[:3]


def test_load_math500(math500: list[Problem]) -> None:
    assert len(math500) == 500
    first = math500[0]
    assert first.id == "math500-0" and first.source == "math500"
    assert first.gold == r"\left( 3, \frac{\pi}{2} \right)"
    assert first.meta["subject"] == "Precalculus" and first.meta["level"] == 2
    assert len({p.id for p in math500}) == 500
    assert {p.meta["level"] for p in math500} == {1, 2, 3, 4, 5}


def test_gsm8k_gold() -> None:
    assert gsm8k_gold("work\n#### 1,234") == "1234"
    assert gsm8k_gold("a #### 1 \n#### -5 ") == "-5"
    with pytest.raises(ValueError):
        gsm8k_gold("no marker")


def test_offline_copy_resolution_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit data_dir wins over LEMMAFLOW_DATA; a wrong path or file is an error, never a fallback."""
    import shutil

    shared = data_root()  # the session's offline copy (tests/conftest.py)
    (tmp_path / "gsm8k").mkdir()
    shutil.copy(shared / "gsm8k" / "test.jsonl", tmp_path / "gsm8k" / "test.jsonl")
    monkeypatch.setenv("LEMMAFLOW_DATA", str(tmp_path))
    assert data_root() == tmp_path
    assert len(load_gsm8k()) == 1319
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="nope"):
        load_gsm8k(data_dir=missing)
    monkeypatch.setenv("LEMMAFLOW_DATA", str(missing))
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_math500()
    with pytest.raises(FileNotFoundError, match="math500/test.jsonl: missing from the offline data copy"):
        load_math500(data_dir=tmp_path)  # folder exists, file does not
    # a changed file in an offline copy is refused, not read (and not repaired: it is the user's folder)
    (tmp_path / "gsm8k" / "test.jsonl").write_text(
        json.dumps({"question": "1+1?", "answer": "1+1=2\n#### 2"}) + "\n", encoding="utf-8")
    with pytest.raises(ChecksumError, match="gsm8k/test.jsonl: sha256 .* is not the pinned"):
        load_gsm8k(data_dir=tmp_path)
    assert (tmp_path / "gsm8k" / "test.jsonl").read_text().startswith('{"question": "1+1?"')


def test_load_problems_jsonl_mixed_and_bad_lines(tmp_path: Path) -> None:
    rows = [
        json.dumps({"question": "GSM?", "answer": "2+2=4\n#### 4"}),  # 1 gsm8k style
        json.dumps({"problem": "MATH?", "answer": r"\frac{1}{2}", "level": 3, "subject": "Algebra"}),  # 2
        json.dumps({"id": "custom-7", "question": "Plain?", "answer": 12}),  # 3 numeric gold
        "{not json",  # 4
        json.dumps({"answer": "5"}),  # 5 missing question
        "",  # 6 blank: ignored
        json.dumps(["a", "list"]),  # 7 not an object
        json.dumps({"question": "No gold"}),  # 8 gold unknown
        json.dumps({"problem": "Boxed only", "solution": r"so \boxed{\sqrt{2}}."}),  # 9
        json.dumps({"question": "   ", "answer": "1"}),  # 10 empty question
        json.dumps({"question": "No gold"}),  # 11 duplicate of 8
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    problems, errors = load_problems_jsonl(path)

    assert [line for line, _ in errors] == [4, 5, 7, 10]
    assert "invalid JSON" in errors[0][1] and "question" in errors[1][1]
    assert [p.gold for p in problems] == ["4", r"\frac{1}{2}", "12", None, r"\sqrt{2}", None]
    assert [p.source for p in problems] == ["gsm8k", "math500", "jsonl", "jsonl", "math500", "jsonl"]
    ids = [p.id for p in problems]
    assert ids[:3] == ["gsm8k-0", "math500-1", "custom-7"]
    assert ids[3].startswith("jsonl-") and ids[5] == ids[3] + "~2"  # content hash, made unique
    assert ids[4] == "math500-8"  # line index: ids do not shift after bad lines
    assert problems[1].meta == {"level": 3, "subject": "Algebra"}
    # Loading again gives the same ids (stable), and an explicit source renames the prefix.
    assert [p.id for p in load_problems_jsonl(path).problems] == ids
    assert load_problems_jsonl(path, source="mine").problems[0].id == "mine-0"


def test_load_problems_jsonl_on_real_files(gsm8k: list[Problem], math500: list[Problem]) -> None:
    loaded = load_problems_jsonl(dataset_path("gsm8k") / "test.jsonl")
    assert loaded.errors == [] and loaded.problems == gsm8k
    loaded = load_problems_jsonl(dataset_path("math500") / "test.jsonl")
    assert loaded.errors == [] and loaded.problems == math500


def test_grade(checker: AnswerChecker) -> None:
    assert grade("18.0", "18", checker)
    assert grade(r"\dfrac{1}{2}", "0.5", checker)
    assert not grade("17", "18", checker)
    assert not grade(None, "18", checker)
    assert not grade("", "18", checker)
    assert grade(r"\sqrt{8}", r"2\sqrt{2}", checker)


def test_grade_reference_solutions(checker: AnswerChecker, gsm8k: list[Problem], math500: list[Problem]) -> None:
    """Extract-then-grade every reference solution: all must be graded correct."""
    for p in [*gsm8k, *math500]:
        assert grade(extract_answer(p.meta["solution"]).answer, p.gold, checker), p.id


def test_grade_shifted_answers_are_wrong(checker: AnswerChecker, gsm8k: list[Problem]) -> None:
    for p, other in zip(gsm8k[:200], gsm8k[1:201]):
        if int(p.gold) != int(other.gold):
            assert not grade(other.gold, p.gold, checker), p.id


# ---- logic benchmarks (FOLIO, ProofWriter) ----


def test_load_folio_labels_and_gold_fol() -> None:
    from collections import Counter

    from lemmaflow.tools.datasets import load_folio
    from lemmaflow.tools.logic.problems import parse_logic_question

    folio = load_folio()
    assert len(folio) == 204 and folio[0].id == "folio-0" and folio[203].id == "folio-203"
    assert Counter(p.gold for p in folio) == {"True": 72, "False": 63, "Unknown": 69}  # Uncertain -> Unknown
    p = folio[0]
    premises, conclusion = parse_logic_question(p.question)
    assert premises == p.meta["premises"] and len(premises) == 6
    assert conclusion == "Bonnie performs in school talent shows often."
    assert p.meta["conclusion_fol"] == "Engaged(bonnie)" and len(p.meta["premises_fol"]) == 6


def test_load_proofwriter_json_array() -> None:
    from collections import Counter

    from lemmaflow.tools.datasets import load_problems_jsonl, load_proofwriter
    from lemmaflow.tools.logic.problems import parse_logic_question

    pw = load_proofwriter()
    assert len(pw) == 600 and Counter(p.gold for p in pw) == {"True": 200, "False": 200, "Unknown": 200}
    p = pw[0]
    assert p.id == "ProofWriter_AttNoneg-OWA-D5-1041_Q1" and p.gold == "True"  # answer "A"
    premises, conclusion = parse_logic_question(p.question)
    assert premises[0] == "Bob is cold." and len(premises) == 20 and conclusion == "Charlie is kind."
    # The generic loader (what `lemmaflow solve --input` uses) detects both files by their fields.
    assert load_problems_jsonl(dataset_path("proofwriter") / "dev.json").problems[0] == p
    assert load_problems_jsonl(dataset_path("folio") / "folio-validation.jsonl").problems[5].id == "folio-5"


def test_logic_rows_bad_fields(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([
        json.dumps({"premises": "not a list", "conclusion": "c", "label": "True"}),
        json.dumps({"premises": ["a"], "conclusion": "c", "label": "Maybe"}),
        json.dumps({"context": "A.", "question": "? x", "options": [], "answer": "D"}),
        json.dumps({"premises": ["a."], "conclusion": "c.", "label": "Uncertain"}),
    ]) + "\n")
    res = load_problems_jsonl(path)
    assert [ln for ln, _ in res.errors] == [1, 2, 3]
    assert "list of strings" in res.errors[0][1] and "Maybe" in res.errors[1][1] and "A, B, C" in res.errors[2][1]
    assert res.problems[0].gold == "Unknown"
    # A JSONL file whose first row is a stray array is still read line by line: nothing good is lost.
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('[1, 2]\n{"question": "1+1?", "answer": "2"}\n')
    res = load_problems_jsonl(mixed)
    assert [p.gold for p in res.problems] == ["2"] and res.errors[0][0] == 1


def test_grade_logic_labels_exactly(checker: AnswerChecker) -> None:
    assert grade("True", "True", checker) and grade(" unknown ", "Unknown", checker)
    assert not grade("1", "True", checker)  # math equivalence would not apply to labels
    assert not grade("Uncertain", "Unknown", checker) and not grade("False", "True", checker)
    assert not grade(None, "False", checker)
    assert grade("0.5", "1/2", checker)  # math golds still use equivalence
