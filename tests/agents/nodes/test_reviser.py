"""Reviser: batched revisions guided by critiques, flawless candidates kept, no-answer revisions ignored."""

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import Critic, Reviser

COT = {"type": "chain_of_thought", "config": {"temperature": 0.7}}
SAMPLES = ["3 + 4 = 7 so \\boxed{7}", "3 + 4 = 8 so \\boxed{8}", "3 + 4 = 9 so \\boxed{9}"]


def world(revision):
    seen = []

    def fn(prompt, i):
        if "Revise the solution" in prompt:
            seen.append(prompt)
            return revision(prompt)
        if "List the flaws" in prompt:
            return "No flaws." if "boxed{7}" in prompt else "- 3 + 4 is 7."
        return SAMPLES[i % 3]

    return fn, seen


def test_revises_flawed_candidates_in_one_call_and_keeps_flawless_ones(checker):
    fn, seen = world(lambda p: "3 + 4 = 7, so \\boxed{7}")
    lm = ScriptedLM(fn)
    ctx = RunContext(backend=lm, checker=checker)
    out = asyncio.run(Reviser(source=Critic(source=COT, n=3), max_tokens=40)(ctx, question="3+4?"))
    assert out.revised == [False, True, True] and [c.answer for c in out.candidates] == ["7", "7", "7"]
    assert len(seen) == 2 and all("A reviewer's critique of it:\n- 3 + 4 is 7." in p for p in seen)
    assert len(lm.calls[-1][0]) == 2 and lm.calls[-1][1].max_tokens == 40  # one batched call
    assert out.answer == "7" and ctx.ledger.total.samples == 3 + 3 + 2


def test_a_revision_without_an_answer_keeps_the_original(checker):
    fn, _ = world(lambda p: "I am not sure." if "boxed{8}" in p else "\\boxed{7}")
    out = asyncio.run(Reviser(source=Critic(source=COT, n=3))(
        RunContext(backend=ScriptedLM(fn), checker=checker), question="3+4?"))
    assert out.revised == [False, False, True] and [c.answer for c in out.candidates] == ["7", "8", "7"]


def test_without_critiques_every_candidate_is_revised(checker):
    fn, seen = world(lambda p: "\\boxed{7}")
    out = asyncio.run(Reviser(source=COT, n=3)(RunContext(backend=ScriptedLM(fn), checker=checker), question="?"))
    assert out.revised == [True, True, True] and len(seen) == 3 and "critique" not in seen[0]
    with pytest.raises(ValueError, match="critique"):
        Reviser(source=COT, prompt="{question} {solution}")
