"""Deterministic scripted-model tests of the self-consistency node."""

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import SelfConsistency


def run(node, lm, checker, question="q"):
    ctx = RunContext(backend=lm, checker=checker)
    return asyncio.run(node(ctx, question=question)), ctx


def test_votes_over_equivalent_answers(checker):
    lm = ScriptedLM(["so \\boxed{\\frac{1}{2}}", "The answer is 0.5", "\\boxed{3}", "\\boxed{\\dfrac12}", "\\boxed{3}"])
    out, ctx = run(SelfConsistency(n=5), lm, checker)
    assert out.answer in ("\\frac{1}{2}", "1/2")
    assert out.confidence == pytest.approx(3 / 5)
    assert [v.votes for v in out.votes] == [3, 2]
    assert out.votes[0].samples == [0, 1, 3]
    assert ctx.ledger.total.samples == 5 and ctx.ledger.total.llm_calls == 1


def test_abstentions_do_not_vote(checker):
    lm = ScriptedLM(["The answer is 7 or 8.", "\\boxed{4}", "no idea"])
    out, _ = run(SelfConsistency(n=3), lm, checker)
    assert out.extracted[0] is None and out.extracted[2] is None
    assert out.answer == "4" and out.confidence == 1.0


def test_all_abstain_gives_no_answer(checker):
    out, _ = run(SelfConsistency(n=2), ScriptedLM(["I cannot say."]), checker)
    assert out.answer is None and out.confidence == 0.0


def test_ties_break_to_first_seen(checker):
    out, _ = run(SelfConsistency(n=4), ScriptedLM(["\\boxed{9}", "\\boxed{5}", "\\boxed{5}", "\\boxed{9}"]), checker)
    assert out.answer == "9"
    out2, _ = run(SelfConsistency(n=4), ScriptedLM(["\\boxed{5}", "\\boxed{9}", "\\boxed{9}", "\\boxed{5}"]), checker)
    assert out2.answer == "5"


def test_adaptive_stops_when_leader_is_safe(checker):
    lm = ScriptedLM(["\\boxed{6}"])  # unanimous
    out, ctx = run(SelfConsistency(n=16, adaptive=True, batch_size=4), lm, checker)
    # After 12 agreeing samples the 4 left cannot overtake (12 > 4); after 8 they could (8 == 8).
    assert out.stopped_early and out.samples_used == 12
    assert ctx.ledger.total.llm_calls == 3
    assert [call[1].n for call in lm.calls] == [4, 4, 4]


def test_adaptive_keeps_sampling_when_contested(checker):
    lm = ScriptedLM(lambda prompt, i: f"\\boxed{{{i % 2}}}")
    out, _ = run(SelfConsistency(n=8, adaptive=True, batch_size=2), lm, checker)
    assert not out.stopped_early and out.samples_used == 8


def test_truncated_chain_without_marker_abstains(checker):
    lm = ScriptedLM(["step 1 gives 5 then step 2 gives 6 then step 3 gives 7 and so on forever"])
    out, _ = run(SelfConsistency(n=1, max_tokens=8), lm, checker)
    assert out.extracted == [None]
    out2, _ = run(SelfConsistency(n=1, max_tokens=8, abstain_on_truncated=False), lm, checker)
    assert out2.extracted[0] is not None


def test_prompt_template_is_validated():
    with pytest.raises(ValueError, match=r"\{question\}"):
        SelfConsistency(prompt="no placeholder")


def test_needs_a_checker():
    ctx = RunContext(backend=ScriptedLM(["\\boxed{1}"]))
    with pytest.raises(RuntimeError, match="answer checker"):
        asyncio.run(SelfConsistency(n=1)(ctx, question="q"))
