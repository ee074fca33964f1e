"""Decompose with a scripted model: sub-question DAG, inner nodes, failures, composition, trace graph."""

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import ChainOfThought, Decompose, ProgramOfThought, ReWOO
from lemmaflow.agents.nodes.decompose import parse_subquestions

DECOMP = ("Sure, here they are:\n"
          "Q1: How many pencils are in the boxes?\n"
          "Q2: How many pencils did Tom buy later?\n"
          "Q3: How many pencils are left? [uses Q1, Q2, Q7]\n")


def sub_of(prompt: str) -> str:
    return prompt.split("Question: ")[-1]


def lm_for(answers: dict[str, str], decomposition: str = DECOMP, compose: str = "Therefore \\boxed{41}."):
    def f(prompt, i):
        if "Break the problem" in prompt:
            return decomposition
        if "Compose the answer" in prompt:
            return compose
        for key, reply in answers.items():
            if key in sub_of(prompt):
                return reply
        return "I do not know."
    return ScriptedLM(f)


def test_parse_subquestions_dependencies():
    subs = parse_subquestions(DECOMP + "not a question\n- Q4) Double check (needs Q3)", max_subquestions=5)
    assert [s.text for s in subs][:3] == ["How many pencils are in the boxes?", "How many pencils did Tom buy later?",
                                         "How many pencils are left?"]
    assert [s.deps for s in subs] == [[], [], [1, 2], [3]]
    assert "Q7" in subs[2].note
    assert [s.deps for s in parse_subquestions(DECOMP, 5, sequential=True)] == [[], [1], [1, 2]]
    assert len(parse_subquestions(DECOMP, 2)) == 2


def test_dag_order_context_and_composition():
    lm = lm_for({"in the boxes": "3 * 12 = \\boxed{36}", "buy later": "\\boxed{10}", "left": "36 + 10 - 5 = \\boxed{41}"})
    ctx = RunContext(backend=lm)
    out = asyncio.run(Decompose(inner=ChainOfThought())(ctx, question="Tom has 3 boxes of 12 pencils ..."))
    assert out.answer == "41" and out.finish == "composed"
    assert [(s.id, s.deps, s.answer) for s in out.subquestions] == [(1, [], "36"), (2, [], "10"), (3, [1, 2], "41")]
    prompts = [k[0] for k, _ in lm.calls]
    # Q1 and Q2 need nothing: asked together in one round before Q3, which sees their answers.
    q3 = next(p for p in prompts if "left?" in sub_of(p))
    assert "Known: How many pencils are in the boxes? Answer: 36" in q3 and "Answer: 10" in q3
    subs = [p for p in prompts if "Context:" in p]
    assert len(subs) == 3 and subs[-1] == q3
    assert "Context: Tom has 3 boxes" in q3
    compose = prompts[-1]
    assert "Q3: How many pencils are left?\nA3: 41" in compose
    # The graph is in the trace: first without answers, then with them.
    first, last = ctx.trace.of_kind("plan")
    assert first.data["graph"] == "decompose" and last.data["steps"][2] == {
        "id": "Q3", "text": "How many pencils are left?", "deps": ["Q1", "Q2"], "answer": "41", "error": None}
    assert first.data["steps"][2]["answer"] is None
    assert set(ctx.ledger.per_node) >= {"decompose/decompose", "decompose/q1", "decompose/q3", "decompose/compose"}


def test_a_failing_subquestion_is_recorded_and_the_rest_goes_on(executor):
    """Inner ProgramOfThought without an answer, and an inner ReWOO raising on a bad plan, for one sub-question each."""
    def f(prompt, i):
        if "Break the problem" in prompt:
            return "Q1: What is 6 times 7?\nQ2: What is 2 plus 2?"
        if "Compose the answer" in prompt:
            return "\\boxed{42}"
        if "make plans" in prompt:
            return "Plan: multiply\n#E1 = Python[print(6 * 7)]" if "6 times 7" in sub_of(prompt) else "no plan at all"
        return "\\boxed{42}"
    ctx = RunContext(backend=ScriptedLM(f), executor=executor)
    out = asyncio.run(Decompose(inner=ReWOO())(ctx, question="..."))
    q1, q2 = out.subquestions
    assert q1.answer == "42" and q1.error is None
    assert q2.answer is None and q2.error.startswith("PlanSyntaxError: line 1:")
    assert "A2: (no answer: PlanSyntaxError" in ctx.trace.of_kind("llm_call")[-1].data["prompts"][0]
    assert out.answer == "42"
    assert Decompose(inner=ProgramOfThought()).needs_executor and not Decompose().needs_executor


def test_no_subquestions_solves_the_whole_problem():
    lm = lm_for({}, decomposition="It is simple.", compose="unused")
    lm_direct = ScriptedLM(lambda p, i: "It is simple." if "Break the problem" in p else "\\boxed{5}")
    out = asyncio.run(Decompose()(RunContext(backend=lm_direct), question="2+3?"))
    assert out.finish == "no_subquestions" and out.answer == "5" and out.subquestions == []
    assert lm.calls == []


def test_inner_must_answer_questions():
    from lemmaflow.agents.nodes import VerifyChain

    with pytest.raises(ValueError, match="question"):
        Decompose(inner=VerifyChain(scorer={"type": "judge"}))
