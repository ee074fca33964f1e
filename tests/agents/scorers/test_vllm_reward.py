"""VLLMRewardModel on vLLM's CPU pooling runner, with the embedded SmolLM2 as a stand-in PRM.

SmolLM2 has no PRM head: vLLM derives a two-class head from its LM head's
"No"/"Yes" rows, so a step's score is P(Yes)/(P(Yes)+P(No)) as the next token
after the separator. The scores say nothing about correctness; these tests
check the serving path: one score per step, probabilities, deterministic,
batching of concurrent calls, errors that fail one call only, usage in the ledger.
"""

import asyncio
import math

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.scorers import ScorerError, StepScoreRequest, build_scorer
from lemmaflow.agents.scorers.vllm_reward import VLLMRewardModel, embedded_reward_config

pytestmark = pytest.mark.embedded

R = StepScoreRequest
REQS = [
    R(question="What is 2+2?", steps=("2+2=4.", "The answer is 4.")),
    R(question="What is 3*3?", steps=("3*3=9",)),
    R(question="Solve x+1=3.", steps=("Subtract 1.", "x=2.", "Check: 2+1=3.")),
]


def run(coro):
    return asyncio.run(coro)


def test_one_probability_per_step_and_deterministic(embedded_prm):
    a = run(embedded_prm.score_steps(REQS))
    b = run(embedded_prm.score_steps(REQS))
    assert [len(o.steps) for o in a] == [2, 1, 3]
    for o, r in zip(a, REQS):
        assert all(math.isfinite(x) and 0.0 <= x <= 1.0 for x in o.steps)
        assert o.prompt_tokens == len(embedded_prm.render(r))
    assert [o.steps for o in a] == [o.steps for o in b]
    # Different steps get different scores: the rows come from the separator positions, not one value.
    assert len({x for o in a for x in o.steps}) > 1


def test_rendering_is_the_prm_chat_with_one_separator_per_step(embedded_prm):
    ids = embedded_prm.render(REQS[0])
    text = embedded_prm._tokenizer.decode(ids)
    assert "<|im_start|>user\nWhat is 2+2?<|im_end|>" in text
    assert "<|im_start|>assistant\n2+2=4.<file_sep>The answer is 4.<file_sep><|im_end|>" in text
    assert ids.count(embedded_prm._sep_id) == 2


def test_concurrent_calls_are_batched_and_score_as_alone(embedded_prm):
    alone = [run(embedded_prm.score_steps([r]))[0].steps for r in REQS]
    embedded_prm.config.burst_wait_s = 0.2  # gather the whole burst even on a loaded CPU

    async def go():
        return await asyncio.gather(*(embedded_prm.score_steps([r]) for r in REQS))

    try:
        embedded_prm.batch_sizes.clear()
        together = run(go())
    finally:
        embedded_prm.config.burst_wait_s = 0.002
    assert list(embedded_prm.batch_sizes) == [3]  # one engine pass for three calls
    # Batch invariance is a property of the scorer's configuration, not luck: the stand-in runs in
    # float32 with prefix caching off (embedded_reward_config). In bf16 on a CPU with AMX one step
    # scored 0.2996 in this batch and 0.2881 alone; fp32 takes no AMX path, and
    # benchmarks/prm_invariance.py measured max |delta| = 0 for fp32 (batch of 4 vs alone, and repeated
    # calls) on an AVX-512 machine. 1e-6 leaves room for fp32 summation order only.
    assert embedded_prm.config.dtype == "float32" and not embedded_prm.config.enable_prefix_caching
    for (out,), ref in zip(together, alone):
        assert out.steps == pytest.approx(ref, abs=1e-6)


def test_a_bad_request_fails_its_call_only(embedded_prm):
    async def go():
        too_long = embedded_prm.score_steps([R(question="word " * 3000, steps=("a",))])
        good = embedded_prm.score_steps([REQS[1]])
        return await asyncio.gather(too_long, good, return_exceptions=True)

    bad, good = run(go())
    assert isinstance(bad, ScorerError) and "exceeds max_model_len" in str(bad)
    assert len(good[0].steps) == 1


def test_separator_text_inside_steps_and_empty_step_lists(embedded_prm):
    outs = run(embedded_prm.score_steps([R(question="a<file_sep>?", steps=("x<file_sep>y", "z")), R(question="q", steps=())]))
    assert len(outs[0].steps) == 2 and outs[1].steps == []


def test_a_multi_token_separator_is_refused_with_a_hint(embedded_prm):
    cfg = embedded_reward_config(step_separator="<extra_0>")
    with pytest.raises(ScorerError, match="must be one token"):
        VLLMRewardModel(cfg, llm=embedded_prm._llm)  # wraps the running engine: nothing new is loaded


def test_plain_prompt_format_renders_the_template(embedded_prm):
    cfg = embedded_reward_config(prompt_format="plain", plain_template="Q: {question}\nA: {steps}")
    other = VLLMRewardModel(cfg, llm=embedded_prm._llm)
    try:
        text = other._tokenizer.decode(other.render(REQS[1]))
    finally:
        other.close()
    assert text == "Q: What is 3*3?\nA: 3*3=9<file_sep>"


def test_reward_model_scorer_records_usage_under_the_role(embedded_prm):
    ctx = RunContext(backend=ScriptedLM(["x"]), models={"prm": embedded_prm})
    scorer = build_scorer({"type": "reward_model", "model": "prm", "aggregate": "min"})
    scores = run(scorer.score(ctx.child("verify"), REQS))
    assert [len(s.steps) for s in scores] == [2, 1, 3]
    assert all(s.value == min(s.steps) for s in scores)
    used = ctx.ledger.per_model["prm"]
    assert used.prompt_tokens == sum(len(embedded_prm.render(r)) for r in REQS) and used.llm_calls == 1
    assert ctx.ledger.per_node["verify"].prompt_tokens == used.prompt_tokens
    assert "PRM" in embedded_prm.model_id
