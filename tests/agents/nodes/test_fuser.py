"""Fuser: merge candidates in one call, majority over fusions, fallback, Archon stacks in specs (scripted)."""

import asyncio

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import Fuser
from lemmaflow.agents.spec import build_pipeline

COT = {"type": "chain_of_thought", "config": {"temperature": 0.7}}
SAMPLES = ["\\boxed{12}", "\\boxed{13}", "\\boxed{11}"]


def script(fused):
    prompts = []

    def fn(prompt, i):
        if "candidate solutions" in prompt:
            prompts.append(prompt)
            return fused[i % len(fused)]
        return SAMPLES[i % len(SAMPLES)]

    return fn, prompts


def test_fuses_every_candidate_in_one_prompt(checker):
    fn, prompts = script(["All three disagree; recomputing: 3*4 = 12, \\boxed{12}"])
    lm = ScriptedLM(fn)
    ctx = RunContext(backend=lm, checker=checker)
    out = asyncio.run(Fuser(source=COT, n=3, max_tokens=64)(ctx, question="3*4?"))
    assert out.answer == "12" and out.samples_used == 3 and not out.fell_back
    [p] = prompts
    assert all(f"Solution {i}:\n{s}" in p for i, s in enumerate(SAMPLES, 1)) and "3*4?" in p
    assert ctx.ledger.total.samples == 4 and len(out.candidates) == 1


def test_several_fusions_vote_and_become_the_next_layers_candidates(checker):
    fn, prompts = script(["\\boxed{13}", "\\boxed{12}", "\\boxed{12.0}"])
    lm = ScriptedLM(fn)
    out = asyncio.run(Fuser(source=COT, n=3, fusions=3, temperature=0.7)(
        RunContext(backend=lm, checker=checker), question="3*4?"))
    assert len(set(prompts)) == 1 and len(lm.calls[-1][0]) == 1 and lm.calls[-1][1].n == 3  # one prompt, 3 fusions
    assert out.answer == "12" and [c.answer for c in out.candidates] == ["13", "12", "12.0"]


def test_falls_back_to_the_candidates_majority_when_no_fusion_answers(checker):
    fn, _ = script(["I cannot decide."])
    out = asyncio.run(Fuser(source=COT, n=4)(
        RunContext(backend=ScriptedLM(lambda p, i: fn(p, i) if "candidate solutions" in p
                                      else ["\\boxed{5}", "\\boxed{6}", "\\boxed{5}", "x"][i % 4]),
                   checker=checker), question="?"))
    assert out.fell_back and out.answer == "5"


def test_an_archon_stack_from_a_spec_runs_layer_by_layer(checker):
    """fuser(ranker(critic(chain_of_thought x4), top 2)): the fuser sees only the 2 kept candidates."""
    seen = []

    def fn(prompt, i):
        if "candidate solutions" in prompt:
            seen.append(prompt)
            return "\\boxed{12}"
        if "List the flaws" in prompt:
            return "No flaws."
        return ["\\boxed{12}", "\\boxed{13}", "\\boxed{12}", "\\boxed{14}"][i % 4]

    stack = {"type": "ranker", "config": {"top_k": 2, "source": {"type": "critic", "config": {
        "n": 4, "source": COT}}}}
    spec = {"name": "archon", "nodes": [{"name": "fuse", "type": "fuser", "config": {"source": stack}}],
            "edges": [{"from": "input.question", "to": "fuse.question"}], "output": "fuse"}
    ctx = RunContext(backend=ScriptedLM(fn), checker=checker)
    res = asyncio.run(build_pipeline(spec).run({"question": "3*4?"}, ctx))
    assert res.status == "ok" and res.outputs["answer"] == "12"
    [p] = seen
    assert p.count("Solution ") == 2 and "\\boxed{13}" not in p and "\\boxed{14}" not in p
    assert ctx.ledger.total.samples == 4 + 4 + 1  # samples, critiques, fusion
