"""Tree-search nodes: specs, aggregation, budgets, traced trees, batched rounds, and the CLI on the real model."""

import asyncio
import json
import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import yaml

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.backends.simulated import SimulatedReasoner
from lemmaflow.agents.batch import BatchRunner
from lemmaflow.agents.budget import Budget, BudgetExceeded, BudgetLedger
from lemmaflow.agents.nodes import BeamSearchNode, BestOfNNode, DVTSNode, MCTSNode, ParticleFilterNode
from lemmaflow.agents.scorers import ScriptedRewardModel
from lemmaflow.agents.spec import build_pipeline
from lemmaflow.agents.trace_view import build_view, render_text
from lemmaflow.cli import BUILTIN_PIPELINES, resolve_pipeline
from lemmaflow.tools.datasets import Problem

ROOT = Path(__file__).resolve().parents[3]
SEARCH_PIPELINES = {"best_of_n": "best_of_n", "beam": "beam_search", "dvts": "dvts", "mcts": "mcts",
                    "particle_filter": "particle_filter"}
PRM = {"type": "reward_model", "model": "prm", "aggregate": "last"}


def sim_ctx(sim, checker=None, **kw):
    return RunContext(backend=sim.backend(), checker=checker,
                      models={"prm": ScriptedRewardModel(sim.step_scores)}, **kw)


@pytest.mark.parametrize("name", sorted(SEARCH_PIPELINES))
def test_builtin_pipelines_build_and_run_on_a_simulated_model(name, checker):
    pipe = resolve_pipeline(name, {}, [f"{_node_name(name)}.scorer={json.dumps(PRM)}"])
    sim = SimulatedReasoner(steps=2, step_accuracy=0.8)
    ctx = sim_ctx(sim, checker, problem_id=f"{name}-1")
    result = asyncio.run(pipe.run({"question": f"Simulated {name}"}, ctx))
    assert result.status == "ok", result.error
    out = result.outputs
    assert out["algorithm"] == name and out["leaves"]
    assert out["answer"] in ("41", "42", "43") and out["solution"].startswith("Step 1:")
    assert ctx.ledger.per_model["prm"].llm_calls >= 1  # the reward model valued states


def _node_name(name):
    """The one node of a built-in search pipeline (checked to be of the expected type)."""
    spec = yaml.safe_load(resources.files("lemmaflow.pipelines").joinpath(f"{name}.yaml").read_text())
    assert name in BUILTIN_PIPELINES and [n["type"] for n in spec["nodes"]] == [SEARCH_PIPELINES[name]]
    return spec["nodes"][0]["name"]


def test_weighted_vote_sums_scores_over_equivalent_answers(checker):
    """Chains answer 1/2 (score .3), 0.5 (.3), 7 (.5), 7.0 (.2): weighted, class 7 (0.7) beats class 1/2 (0.6);
    counted, 2 vs 2 ties and the class seen first wins - leaves come best first, so 7 again, by a count of 2/4;
    best takes the single best chain (7, 0.5)."""
    texts = ["So \\boxed{1/2}", "So \\boxed{0.5}", "So \\boxed{7}", "So \\boxed{7.0}"]
    scores = {"1/2": 0.3, "0.5": 0.3, "7": 0.5, "7.0": 0.2}
    prm = ScriptedRewardModel(lambda q, steps: [scores[re.search(r"boxed\{(.*)\}", steps[-1]).group(1)]] * len(steps))

    def run(aggregate):
        lm = ScriptedLM(lambda prompt, i: texts[i])
        ctx = RunContext(backend=lm, checker=checker, models={"prm": prm})
        return asyncio.run(BestOfNNode(n=4, scorer=PRM, aggregate=aggregate)(ctx, question="?"))

    weighted, counted, best = run("weighted_vote"), run("vote"), run("best")
    assert weighted.answer == "7" and weighted.confidence == pytest.approx(0.7 / 1.3)
    assert counted.answer == "7" and counted.confidence == pytest.approx(0.5)
    assert sorted(v.votes for v in counted.votes) == [2, 2]
    assert best.answer == "7" and best.confidence == 0.5 and best.solution == "So \\boxed{7}"
    assert weighted.extracted == ["7", "1/2", "0.5", "7.0"]  # leaves best first
    # the reported solution is the best-scored one in the winning class
    assert weighted.solution == "So \\boxed{7}"
    lm = ScriptedLM(lambda prompt, i: texts[i])
    low7 = {"1/2": 0.3, "0.5": 0.3, "7": 0.5, "7.0": 0.0}  # best leaf says 7, class 1/2 wins 0.6 to 0.5
    prm2 = ScriptedRewardModel(lambda q, steps: [low7[re.search(r"boxed\{(.*)\}", steps[-1]).group(1)]] * len(steps))
    half = asyncio.run(BestOfNNode(n=4, scorer=PRM)(RunContext(backend=lm, checker=checker, models={"prm": prm2}),
                                                    question="?"))
    assert half.extracted[0] == "7" and half.answer == "1/2" and half.solution == "So \\boxed{1/2}"


def test_each_node_traces_its_tree_for_the_html_view(checker):
    sim = SimulatedReasoner(steps=2, step_accuracy=0.7)
    for cls, cfg in ((BestOfNNode, {"n": 2}), (BeamSearchNode, {"beam_size": 1, "width": 2}),
                     (DVTSNode, {"subtrees": 2, "width": 2}), (MCTSNode, {"simulations": 4, "width": 2}),
                     (ParticleFilterNode, {"particles": 2})):
        ctx = sim_ctx(sim, checker, problem_id=cls.kind)
        out = asyncio.run(cls(scorer=PRM, **cfg)(ctx, question=f"Q {cls.kind}"))
        (sec,) = [s for s in build_view(ctx.trace.to_dicts(), cls.kind).sections if s.title.startswith(out.algorithm)]
        chosen = [n for n in sec.nodes if n.chosen]
        assert len(sec.nodes) == out.nodes and chosen, cls.kind
        assert chosen[-1].terminal and chosen[-1].answer == out.leaves[0].answer, cls.kind
        assert "Step 1:" in render_text(build_view(ctx.trace.to_dicts(), cls.kind))


def test_budget_exhausted_before_any_step_is_reported(checker):
    sim = SimulatedReasoner(steps=2)
    ctx = sim_ctx(sim, checker, ledger=BudgetLedger(Budget(max_samples=0)))
    with pytest.raises(BudgetExceeded):
        asyncio.run(BeamSearchNode(scorer=PRM)(ctx, question="Q"))


def test_missing_reward_model_fails_the_item_clearly(checker):
    sim = SimulatedReasoner(steps=1)
    with pytest.raises(Exception, match="needs a reward model named 'prm'"):
        asyncio.run(BeamSearchNode(scorer=PRM)(RunContext(backend=sim.backend(), checker=checker), question="Q"))
    with pytest.raises(ValueError, match="unknown scorer type"):
        BeamSearchNode(scorer={"type": "nope"})


def test_batch_runner_coalesces_every_problems_round_into_one_backend_call(tmp_path, checker):
    """K problems of beam search through the BatchRunner: one backend call per round for the whole batch."""
    sim = SimulatedReasoner(steps=2, step_accuracy=0.7)
    lm = sim.backend()
    pipe = build_pipeline({"name": "beam", "nodes": [{"name": "beam", "type": "beam_search",
                                                      "config": {"beam_size": 2, "width": 2, "scorer": PRM}}],
                           "edges": [{"from": "input.question", "to": "beam.question"}], "output": "beam"})
    problems = [Problem(id=f"p{k}", source="sim", question=f"Batched problem {k}", gold="42") for k in range(6)]
    runner = BatchRunner(pipe, lm, checker, out_path=tmp_path / "o.jsonl", models={"prm": ScriptedRewardModel(sim.step_scores)},
                         coalesce_s=0.05)
    summary = asyncio.run(runner.run(problems))
    assert summary.done == 6 and summary.failed == 0
    assert len(lm.calls) == 3  # 3 rounds (2 steps + answer), each one call carrying every problem's frontier
    assert [len(prompts) for prompts, _ in lm.calls] == [6, 12, 12]
    rows = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    # budgets stay per problem: each problem's ledger saw its own samples only
    assert all(r["usage"]["total"]["samples"] == 4 + 4 + 4 for r in rows)


@pytest.mark.embedded
def test_cli_beam_search_on_the_embedded_model(tmp_path):
    """lemmaflow solve --pipeline beam on the real model (2 problems, tiny budgets), trace drawn as HTML."""
    from lemmaflow.engine_logs import QUIET_ENV

    out, trace, html = tmp_path / "out.jsonl", tmp_path / "trace.jsonl", tmp_path / "t.html"
    args = ["solve", "--input", str(ROOT / "examples" / "problems" / "easy_arithmetic.jsonl"), "--limit", "2",
            "--out", str(out), "--pipeline", "beam", "--trace", str(trace), "--no-progress", "--coalesce-ms", "20",
            "--set", "beam.beam_size=1", "--set", "beam.width=2", "--set", "beam.max_steps=2",
            "--max-tokens", "32", "--set", 'beam.scorer={"type": "step_verifier", "judge": false}']
    env = {k: v for k, v in os.environ.items() if k not in QUIET_ENV}
    r = subprocess.run([sys.executable, "-m", "lemmaflow", *args], capture_output=True, text=True, timeout=600,
                       cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 2 and all(x["status"] == "ok" for x in rows), rows
    assert all(x["outputs"]["algorithm"] == "beam" and x["outputs"]["nodes"] >= 3 for x in rows)
    events = [json.loads(x) for x in trace.read_text().splitlines()]
    calls = [e["data"] for e in events if e["kind"] == "llm_call"]
    assert calls and all(c["params"]["stop"] == ["\n\n"] and c["completion_tokens"] > 0 for c in calls)
    assert any(e["kind"] == "search_result" for e in events)
    pid = rows[0]["id"]
    v = subprocess.run([sys.executable, "-m", "lemmaflow", "trace", "show", str(trace), "--problem", pid,
                        "--html", str(html)], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert v.returncode == 0, v.stderr[-2000:]
    assert "on-path" in html.read_text()


def test_trace_view_draws_the_reported_solution_and_the_vote(checker):
    """The issue's case: the top-scored leaf answers 7, the weighted vote reports 1/2. The page's chosen path
    must end in the reported solution's leaf, with the vote over the leaves beside the tree."""
    texts = ["So \\boxed{1/2}", "So \\boxed{0.5}", "So \\boxed{7}", "So \\boxed{7.0}"]
    low7 = {"1/2": 0.3, "0.5": 0.3, "7": 0.5, "7.0": 0.0}
    prm = ScriptedRewardModel(lambda q, steps: [low7[re.search(r"boxed\{(.*)\}", steps[-1]).group(1)]] * len(steps))
    ctx = RunContext(backend=ScriptedLM(lambda prompt, i: texts[i]), checker=checker, models={"prm": prm},
                     problem_id="p")
    out = asyncio.run(BestOfNNode(n=4, scorer=PRM)(ctx, question="?"))
    assert out.answer == "1/2" and out.extracted[0] == "7"
    (sec,) = build_view(ctx.trace.to_dicts(), "p").sections
    chosen = [n for n in sec.nodes if n.chosen]
    leaf = next(n for n in chosen if n.terminal)
    assert leaf.answer == "1/2" and "1/2" in leaf.text  # not the top-scored leaf, which answered 7
    assert "reported answer '1/2' by weighted_vote over 4 leaves" in sec.summary
    assert "the top-scored leaf" in sec.summary and "answered '7'" in sec.summary
    win = [r for r in sec.vote if r.winner]
    assert len(win) == 1 and win[0].answer == "1/2" and win[0].weight == pytest.approx(0.6)
    assert leaf.id in win[0].leaves and len(win[0].leaves) == 2  # 1/2 and 0.5 are one class
    assert sum(len(r.leaves) for r in sec.vote) == 4
    text = render_text(build_view(ctx.trace.to_dicts(), "p"))
    assert "* vote: answer '1/2' weight 0.6" in text
    from lemmaflow.agents.trace_view import render_html

    page = render_html(build_view(ctx.trace.to_dicts(), "p"))
    assert '<table class="vote">' in page and '<tr class="win"><td>1/2 ✓</td>' in page
