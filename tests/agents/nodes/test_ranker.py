"""Ranker: agreement and scorer ranking, top-k, candidate sources, budget, specs (scripted model)."""

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.budget import Budget, BudgetLedger
from lemmaflow.agents.nodes import ChainOfThought, Ranker, SelfConsistency
from lemmaflow.agents.spec import build_pipeline

COT = {"type": "chain_of_thought", "config": {"temperature": 0.7}}


def run(node, lm, checker, **ctx_kw):
    ctx = RunContext(backend=lm, checker=checker, **ctx_kw)
    return asyncio.run(node(ctx, question="3+4?")), ctx


def test_agreement_ranking_keeps_the_majority_first(checker):
    lm = ScriptedLM(["\\boxed{9}", "\\boxed{7}", "I give up.", "\\boxed{7.0}", "\\boxed{8}"])
    out, ctx = run(Ranker(source=COT, n=5, top_k=3), lm, checker)
    assert out.scores == [0.25, 0.5, 0.0, 0.5, 0.25]  # share of the 4 answering candidates
    assert [c.answer for c in out.candidates] == ["7", "7.0", "9"]  # ties keep source order
    assert out.answer == "7" and out.samples_used == 5 and not out.budget_limited
    assert [c.score for c in out.candidates] == [0.5, 0.5, 0.25]
    assert ctx.ledger.total.samples == 5  # the ranker itself calls no model


def test_scorer_ranking_prefers_the_chain_whose_arithmetic_checks(checker):
    good = "3 + 4 = 7\n\nSo \\boxed{7}"
    bad = "3 + 4 = 8\n\nSo \\boxed{8}"
    lm = ScriptedLM([bad, bad, good])  # the wrong answer is the majority
    node = Ranker(source=COT, n=3, top_k=1, scorer={"type": "step_verifier", "judge": False, "aggregate": "min"})
    out, _ = run(node, lm, checker)
    assert out.answer == "7" and out.scores == [0.0, 0.0, 1.0]
    plain, _ = run(Ranker(source=COT, n=3), ScriptedLM([bad, bad, good]), checker)
    assert plain.answer == "8"  # agreement alone picks the majority: the scorer changed the ranking


def test_self_consistency_source_is_called_once(checker):
    lm = ScriptedLM(["\\boxed{1}", "\\boxed{2}", "\\boxed{2}"])
    out, ctx = run(Ranker(source=SelfConsistency(n=3), top_k=2), lm, checker)
    assert len(lm.calls) == 1 and lm.calls[0][1].n == 3
    assert [c.answer for c in out.candidates] == ["2", "2"] and out.samples_used == 3


def test_budget_cuts_the_source_short_and_says_so(checker):
    lm = ScriptedLM(["\\boxed{5}"])
    ctx = RunContext(backend=lm, checker=checker, ledger=BudgetLedger(Budget(max_samples=2)))
    out = asyncio.run(Ranker(source=ChainOfThought(), n=4)(ctx, question="?"))
    assert out.samples_used == 2 and out.budget_limited and out.answer == "5"


def test_in_a_spec_and_bad_sources_are_clear_errors(checker):
    spec = {"name": "r", "nodes": [{"name": "rank", "type": "ranker",
                                     "config": {"n": 2, "top_k": 1, "source": COT}}],
            "edges": [{"from": "input.question", "to": "rank.question"}], "output": "rank"}
    pipe = build_pipeline(spec)
    res = asyncio.run(pipe.run({"question": "?"}, RunContext(backend=ScriptedLM(["\\boxed{3}"]), checker=checker)))
    assert res.status == "ok" and res.outputs["answer"] == "3" and len(res.outputs["candidates"]) == 1
    with pytest.raises(ValueError, match="cannot be a candidate source"):
        Ranker(source={"type": "verify_chain"})
    with pytest.raises(ValueError, match="unknown scorer type"):
        Ranker(source=COT, scorer={"type": "nope"})
