"""LINC node with a scripted translator: real FOL, real parser, real z3; voting and abstention."""

import asyncio
import json

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.node import NodeInputError
from lemmaflow.agents.nodes import Linc
from lemmaflow.agents.nodes.linc import parse_translation
from lemmaflow.tools.logic.problems import format_logic_question

PREMISES = ["All cats are mammals.", "No mammal is a reptile.", "Tom is a cat."]
RULES = "TEXT: All cats are mammals.\nFOL: all x. (Cat(x) -> Mammal(x))\n" \
        "TEXT: No mammal is a reptile.\nFOL: ∀x (Mammal(x) → ¬Reptile(x))\nTEXT: Tom is a cat.\nFOL: Cat(tom)\n"


def translation(conclusion_fol: str) -> str:
    return f"{RULES}TEXT: (conclusion)\nFOL: {conclusion_fol}\n</EVALUATE>\n------ trailing junk"


TRUE = translation("Mammal(tom)")  # entailed
FALSE = translation("Reptile(tom)")  # negation entailed
UNKNOWN = translation("Mammal(jerry)")  # neither
MALFORMED = translation("Mammal(tom) ∧ ∧")  # does not parse
NO_FOL = "I think the answer is True.</EVALUATE>"


def run(script, n, **inputs):
    lm = ScriptedLM(script)
    ctx = RunContext(backend=lm)
    out = asyncio.run(Linc(n=n)(ctx, **inputs))
    return out, lm, ctx


@pytest.mark.parametrize("script, label", [([TRUE], "True"), ([FALSE], "False"), ([UNKNOWN], "Unknown")])
def test_each_label_is_decided_by_the_prover(script, label):
    out, lm, _ = run(script, 1, premises=PREMISES, conclusion="Tom is a mammal.")
    assert out.answer == label and out.confidence == 1.0 and out.abstained == 0
    s = out.samples[0]
    assert s.premises_fol[0] == "all x. (Cat(x) -> Mammal(x))" and len(s.premises_fol) == 3
    assert s.status == {"True": "entailed", "False": "contradicted", "Unknown": "unknown"}[label]


def test_k_samples_in_one_call_majority_and_abstentions():
    out, lm, ctx = run([TRUE, MALFORMED, FALSE, TRUE, NO_FOL], 5, premises=PREMISES, conclusion="Tom is a mammal.")
    assert len(lm.calls) == 1 and lm.calls[0][1].n == 5 and "</EVALUATE>" in lm.calls[0][1].stop
    assert out.answer == "True" and out.extracted == ["True", None, "False", "True", None]
    assert out.abstained == 2 and out.samples_used == 5 and out.confidence == pytest.approx(2 / 3)
    assert [s.status for s in out.samples] == ["entailed", "parse_error", "contradicted", "entailed", "no_fol"]
    assert "unexpected" in out.samples[1].reason
    assert [(v.answer, v.votes, v.samples) for v in out.votes] == [("True", 2, [0, 3]), ("False", 1, [2])]
    vote = [e for e in ctx.trace.events if e.kind == "vote"][0]
    assert vote.data["abstained"] == 2 and vote.data["winner"] == "True"
    # The prompt carries the problem after the few-shot examples.
    assert "<PREMISES>\nAll cats are mammals.\nNo mammal is a reptile.\nTom is a cat.\n</PREMISES>" in lm.calls[0][0][0]


def test_tie_goes_to_the_label_seen_first():
    out, *_ = run([UNKNOWN, FALSE, FALSE, UNKNOWN], 4, premises=PREMISES, conclusion="x")
    assert out.answer == "Unknown" and out.confidence == 0.5


def test_all_abstain_gives_no_answer():
    out, *_ = run([MALFORMED, NO_FOL], 2, premises=PREMISES, conclusion="x")
    assert out.answer is None and out.abstained == 2 and out.confidence == 0.0 and out.votes == []


def test_inconsistent_translation_and_bad_signature_abstain():
    inconsistent = translation("Mammal(tom)").replace("FOL: Cat(tom)", "FOL: Cat(tom) & ~Mammal(tom)")
    arity = translation("Mammal(tom, jerry)")
    out, *_ = run([inconsistent, arity], 2, premises=PREMISES, conclusion="x")
    assert [s.status for s in out.samples] == ["inconsistent", "error"] and out.answer is None
    assert "used with 1 and with 2" in out.samples[1].reason


def test_truncated_translation_abstains():
    lm = ScriptedLM([TRUE])
    out = asyncio.run(Linc(n=1, max_tokens=5)(RunContext(backend=lm), premises=PREMISES, conclusion="x"))
    assert out.samples[0].status == "truncated" and out.answer is None


def test_question_text_input_and_missing_input():
    q = format_logic_question(PREMISES, "Tom is a mammal.")
    out, lm, _ = run([TRUE], 1, question=q)
    assert out.answer == "True" and "<CONCLUSION>\nTom is a mammal.\n</CONCLUSION>" in lm.calls[0][0][0]
    with pytest.raises(NodeInputError, match="Premises:"):
        run([TRUE], 1, question="What is 2+2?")
    with pytest.raises(NodeInputError, match="needs `question`"):
        run([TRUE], 1)


def test_parse_translation():
    assert parse_translation("FOL: A\nfol: B\nTEXT: c\nFOL: C") == (["A", "B"], "C")
    assert parse_translation("FOL: A</EVALUATE>\nFOL: junk") == ([], "A")
    with pytest.raises(ValueError):
        parse_translation("TEXT: nothing")


def test_strict_count_abstains_on_missing_premise_lines():
    short = "FOL: Cat(tom)\nFOL: Mammal(tom)\n</EVALUATE>"
    lm = ScriptedLM([short])
    loose = asyncio.run(Linc(n=1)(RunContext(backend=lm), premises=PREMISES, conclusion="x"))
    strict = asyncio.run(Linc(n=1, strict_count=True)(RunContext(backend=lm), premises=PREMISES, conclusion="x"))
    # Loose (LINC): the missing rule makes it Unknown; strict: abstain.
    assert loose.answer == "Unknown" and strict.answer is None and "1 premise translations for 3" in strict.samples[0].reason


def test_config_validation():
    with pytest.raises(ValueError):
        Linc(prompt="no fields")
    with pytest.raises(ValueError):
        Linc(n=0)


def test_module_example_runs():
    import re

    import lemmaflow.agents.nodes.linc as mod

    code = re.search(r"Example.*?::\n\n(.*)", mod.__doc__, re.S).group(1)
    exec(compile("\n".join(ln[4:] for ln in code.splitlines()), "linc_example", "exec"), {})


def test_builtin_pipeline_grades_folio_with_gold_fol_translations(tmp_path):
    """The `linc` pipeline in a batch: the scripted model answers each FOLIO item with its gold FOL."""
    from lemmaflow.agents.batch import BatchRunner
    from lemmaflow.cli import resolve_pipeline
    from lemmaflow.tools.answers import AnswerChecker
    from lemmaflow.tools.datasets import load_folio

    problems = [p for p in load_folio(limit=8)]  # folio-2 is unparseable: it must abstain, not crash
    by_conclusion = {p.meta["conclusion"]: p for p in problems}

    def translate(prompt: str, i: int) -> str:
        block = prompt.rsplit("<CONCLUSION>\n", 1)[1]
        p = by_conclusion[block.split("\n</CONCLUSION>", 1)[0]]
        lines = [f"TEXT: {t}\nFOL: {f}" for t, f in zip(p.meta["premises"], p.meta["premises_fol"])]
        return "\n".join(lines + [f"TEXT: {p.meta['conclusion']}\nFOL: {p.meta['conclusion_fol']}", "</EVALUATE>"])

    pipe = resolve_pipeline("linc", {"n": 2, "max_tokens": 4096}, ())
    out = tmp_path / "r.jsonl"
    with AnswerChecker() as checker:
        summary = asyncio.run(BatchRunner(pipe, ScriptedLM(translate), checker, out_path=out).run(problems))
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["folio-2"]["answer"] is None and rows["folio-2"]["correct"] is False
    for pid in ("folio-0", "folio-1", "folio-3", "folio-4", "folio-6", "folio-7"):
        assert rows[pid]["answer"] == rows[pid]["gold"] and rows[pid]["correct"] is True, rows[pid]
    assert rows["folio-5"]["answer"] == "Unknown" and rows["folio-5"]["gold"] == "True"  # documented mismatch
    assert summary.correct == 6 and summary.failed == 0


@pytest.mark.embedded
def test_linc_cli_end_to_end_on_the_embedded_model(tmp_path):
    """`lemmaflow solve --pipeline linc` on a FOLIO-style row: real model, parser, z3, exact grading."""
    from lemmaflow.cli import main

    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"premises": ["All cats are mammals.", "Tom is a cat."],
                               "conclusion": "Tom is a mammal.", "label": "True"}) + "\n")
    out = tmp_path / "out.jsonl"
    rc = main(["solve", "--input", str(inp), "--pipeline", "linc", "--n", "2", "--max-tokens", "48",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    (row,) = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert row["status"] == "ok" and row["gold"] == "True" and row["id"] == "folio-0"
    samples = row["outputs"]["samples"]
    assert len(samples) == 2
    statuses = {"entailed", "contradicted", "unknown", "inconsistent", "error", "timeout",
                "parse_error", "truncated", "no_fol"}
    assert all(s["status"] in statuses for s in samples)
    labels = [s["label"] for s in samples]
    assert row["outputs"]["abstained"] == labels.count(None)
    assert row["answer"] in (None, *labels) and row["correct"] == (row["answer"] == "True")
