"""Critic: one batched critique call per layer, critiques ride on candidates (scripted model)."""

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import Critic, Fuser

COT = {"type": "chain_of_thought", "config": {"temperature": 0.7}}


def gen_fn(prompt, i):
    return ["3 + 4 = 7 so \\boxed{7}", "3 + 4 = 8 so \\boxed{8}", "\\boxed{7}"][i % 3]


def critic_fn(prompt, i):
    return "- 3 + 4 is 7, not 8." if "boxed{8}" in prompt else "No flaws."


def test_critiques_each_candidate_in_one_call_with_the_critic_model(checker):
    gen, critic = ScriptedLM(gen_fn), ScriptedLM(critic_fn, model_id="judge")
    ctx = RunContext(backend=gen, checker=checker, models={"critic": critic})
    out = asyncio.run(Critic(source=COT, n=3, max_tokens=64)(ctx, question="3+4?"))
    assert [c.critique for c in out.candidates] == ["No flaws.", "- 3 + 4 is 7, not 8.", "No flaws."]
    assert len(critic.calls) == 1 and len(critic.calls[0][0]) == 3  # one call, one prompt per candidate
    assert all("Proposed solution" in p and "3+4?" in p for p in critic.calls[0][0])
    assert critic.calls[0][1].max_tokens == 64
    assert ctx.ledger.per_model["critic"].samples == 3 and ctx.ledger.per_model["generator"].samples == 3
    assert out.answer == "7" and out.chain.endswith("\\boxed{7}")  # the majority; the critic changes no answer


def test_a_fuser_over_a_critic_sees_the_critiques(checker):
    seen = []

    def lm_fn(prompt, i):
        if "candidate solutions" in prompt:
            seen.append(prompt)
            return "Taking solution 1: \\boxed{7}"
        return critic_fn(prompt, i) if "List the flaws" in prompt else gen_fn(prompt, i)

    fuser = Fuser(source=Critic(source=COT, n=3))
    out = asyncio.run(fuser(RunContext(backend=ScriptedLM(lm_fn), checker=checker), question="3+4?"))
    assert out.answer == "7"
    [prompt] = seen
    assert "Critique of solution 2:\n- 3 + 4 is 7, not 8." in prompt and prompt.count("Critique of solution") == 3


def test_prompt_must_name_its_fields():
    with pytest.raises(ValueError, match="solution"):
        Critic(source=COT, prompt="Critique {question}")
