"""Weighted self-consistency / Vote through a scorer spec, and the VerifyChain node (scripted models)."""

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.budget import Budget, BudgetLedger
from lemmaflow.agents.nodes import ChainOfThought, SelfConsistency, VerifyChain, Vote
from lemmaflow.agents.spec import build_pipeline

# Two sloppy chains for 9 (false arithmetic) against one clean chain for 7.
CHAINS = ["3 + 4 = 9\n\nSo \\boxed{9}.", "3 + 4 = 7\n\nSo \\boxed{7}.", "3 + 4 = 9\n\nSo \\boxed{9}.", "No idea."]
SYMPY = {"type": "step_verifier", "judge": False, "aggregate": "min"}


def run(node, lm, checker, budget=None, **inputs):
    ctx = RunContext(backend=lm, checker=checker, ledger=BudgetLedger(budget))
    return asyncio.run(node(ctx, **({"question": "3+4?"} | inputs))), ctx


def test_unweighted_sc_is_unchanged(checker):
    out, _ = run(SelfConsistency(n=4), ScriptedLM(CHAINS), checker)
    assert out.answer == "9" and out.weights is None and out.confidence == pytest.approx(2 / 3)


def test_weighted_sc_counts_chain_scores(checker):
    out, ctx = run(SelfConsistency(n=4, scorer=SYMPY), ScriptedLM(CHAINS), checker)
    assert out.answer == "7" and out.weights == [0.0, 1.0, 0.0, 0.0]
    assert out.confidence == 1.0 and [v.votes for v in out.votes] == [1.0, 0.0]
    assert len(ctx.trace.of_kind("score")) == 3  # the abstaining chain is not scored


def test_weighted_sc_with_a_judge_books_verifier_tokens(checker):
    def lm(prompt, i):
        if "Step to check" in prompt:
            return "VERDICT: correct" if "7" in prompt.split("Step to check:")[1] else "VERDICT: incorrect"
        return ["I think 9.\n\nSo \\boxed{9}.", "It is 7.\n\nSo \\boxed{7}."][i % 2 if i < 2 else 0]

    out, ctx = run(SelfConsistency(n=3, scorer={"type": "judge"}), ScriptedLM(lm), checker)
    assert out.answer == "7" and out.weights == [0.0, 1.0, 0.0]
    assert ctx.ledger.per_model["verifier"].samples == 6 and ctx.ledger.per_model["generator"].samples == 3
    assert ctx.ledger.per_node["self_consistency/scorer"].samples == 6


def test_weighted_sc_falls_back_to_counting_when_the_budget_stops_the_judge(checker):
    lm = ScriptedLM(CHAINS)
    out, _ = run(SelfConsistency(n=4, scorer={"type": "judge"}), lm, checker, budget=Budget(max_samples=5))
    assert out.weights is None and out.budget_limited and out.answer == "9"


def test_weighted_vote(checker):
    node = Vote(inner=ChainOfThought(temperature=0.7), k=4, scorer=SYMPY)
    out, _ = run(node, ScriptedLM(CHAINS), checker)
    assert out.answer == "7" and out.weights == [0.0, 1.0, 0.0, 0.0]
    out, _ = run(Vote(inner=ChainOfThought(temperature=0.7), k=4), ScriptedLM(CHAINS), checker)
    assert out.answer == "9" and out.weights is None


def test_bad_scorer_spec_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown scorer type"):
        SelfConsistency(scorer={"type": "oracle"})


def test_verify_chain_node_from_a_spec(checker):
    spec = {
        "inputs": {"question": "str", "chain": "str"},
        "nodes": [{"name": "verify", "type": "verify_chain", "config": {"scorer": {"type": "step_verifier"}}}],
        "edges": [{"from": "input.question", "to": "verify.question"}, {"from": "input.chain", "to": "verify.chain"}],
        "output": "verify",
    }
    pipe = build_pipeline(spec)
    lm = ScriptedLM(["VERDICT: correct"])
    ctx = RunContext(backend=lm, checker=checker)
    res = asyncio.run(pipe.run({"question": "3+4?", "chain": "3 + 4 = 8\n\nSo the answer is 8."}, ctx))
    out = res.outputs
    assert out["step_scores"] == [0.0, 1.0] and out["value"] == 0.0
    assert "is false" in out["details"][0]["why"]
    assert len(ctx.trace.of_kind("score")) == 1


def test_verify_chain_empty_chain():
    out, _ = run(VerifyChain(), ScriptedLM(["-"]), None, chain="   ")
    assert out.steps == [] and out.value == 0.5
