"""The compose search: finds the known-best configuration of a simulated world within a stated budget,
resumes after an interruption, survives bad configurations; and runs real nodes with a scripted model.

The simulated world (tests/agents/compose_sim.py) gives each of 360 configurations a known accuracy
and token cost; nothing there is text or a model. Budgets are stated as a share of the cost of
evaluating every configuration on the whole dev set (a full sweep, 178,980,000 simulated tokens):

- TPE: 30% of a full sweep. Over seeds 0-9 (benchmarks/compose_search.py, benchmarks/RESULTS.md)
  TPE found the best configuration 4/10 times at 10%, 7/10 at 20%, 10/10 at 30%: the best (0.88) is
  0.04 ahead of the next ones, and the layers interact (critique helps only a fuser; a ranker keeping
  one candidate hurts a fuser), which TPE must learn from trials.
- Successive halving (rungs of 25, 50, 100, 200 problems): 20% of a full sweep (10/10 seeds; 7/10 at
  10%, 9/10 at 15%), since trailing configurations stop after a fraction of the dev set. Runs at 20%
  stopped at max_trials (400) with about 14.5% spent: pruned trials are cheap.

The search tests run seed 0 only (the seed sweep takes minutes; it is the benchmark's job).
"""

import asyncio
import json

import pytest
import yaml

from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.compose import BatchEvaluator, Composer, write_compose_outputs
from lemmaflow.agents.compose_space import SearchSpace, SpaceError, describe_stack, load_space, realize
from lemmaflow.agents.spec import build_pipeline
from lemmaflow.tools.datasets import Problem

from .compose_sim import SPACE, SimulatedEvaluator, accuracy, all_specs, problems, tokens

N_DEV = 200


@pytest.fixture(scope="module")
def world():
    space = SearchSpace.model_validate(SPACE)
    specs = all_specs(space)
    ranked = sorted(specs, key=lambda s: -accuracy(s))
    sweep = sum(tokens(s) for s in specs) * N_DEV
    return space, specs, ranked[0], sweep


def test_the_simulated_world_is_what_the_docstring_says(world):
    space, specs, best, sweep = world
    assert len(specs) == space.size() == 360 and sweep == 178_980_000
    accs = sorted((accuracy(s) for s in specs), reverse=True)
    assert accs[0] == pytest.approx(0.88) and accs[0] - accs[1] >= 0.04 - 1e-9
    assert describe_stack(best["nodes"][0]) == ("fuser[fusions=3](ranker[scorer=step_verifier,top_k=3]("
                                                "critic(chain_of_thought[temperature=0.7] x8)))")


@pytest.mark.parametrize("search,share", [("tpe", 0.30), ("halving", 0.20)])
def test_search_finds_the_known_best_within_the_budget(world, search, share, seed=0):
    space, specs, best, sweep = world
    sp = SearchSpace.model_validate({**SPACE, "search": search, "seed": seed, "max_trials": 400,
                                     "halving": {"min_problems": 25, "eta": 2}})
    budget = int(sweep * share)
    ev = SimulatedEvaluator()
    report = asyncio.run(Composer(sp, ev, problems(N_DEV), budget_tokens=budget).run())
    found = report.best_trial()
    assert found is not None and found.spec == best, f"found {found.description if found else None}"
    assert found.row.accuracy == pytest.approx(accuracy(best), abs=0.05) and found.problems_run == N_DEV
    # The budget held: no evaluation started past it (so at most one evaluation's spend over).
    assert report.spent_tokens == sum(t.new_tokens for t in report.trials)
    assert report.spent_tokens <= budget + max(tokens(s) for s in specs) * N_DEV
    assert any(w in report.stop_reason for w in ("token budget", "exhausted", "max_trials"))
    assert len({h for h, _ in ev.done}) < len(specs)  # it did not sweep the space
    if search == "halving":
        assert any(t.state == "pruned" and t.problems_run < N_DEV for t in report.trials)


def test_interrupted_search_resumes_where_it_stopped(tmp_path):
    sp = SearchSpace.model_validate({**SPACE, "seed": 3})
    ev = SimulatedEvaluator(fail_on_call=3)
    budget = 8_000_000
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(Composer(sp, ev, problems(N_DEV), budget_tokens=budget, out_dir=tmp_path).run())
    ev.fail_on_call = None  # the results of finished problems are still "on disk" (ev.done)
    report = asyncio.run(Composer(sp, ev, problems(N_DEV), budget_tokens=budget, out_dir=tmp_path).run())
    t = {x.number: x for x in report.trials}
    assert t[0].state == t[1].state == "complete"
    assert t[2].state == "failed" and "interrupted" in t[2].error
    assert t[3].params == t[2].params and t[3].state == "complete"  # the interrupted configuration ran first
    assert report.spent_tokens >= budget and (tmp_path / "study.db").exists()
    # A third run with the budget spent starts nothing.
    again = asyncio.run(Composer(sp, ev, problems(N_DEV), budget_tokens=budget, out_dir=tmp_path).run())
    assert len(again.trials) == len(report.trials) and "token budget" in again.stop_reason


def test_bad_configurations_fail_alone(tmp_path):
    sp = SearchSpace.model_validate({**SPACE, "layers": [{"type": "ranker", "optional": False,
                                                          "config": {"top_k": {"choices": [0, 1]}}}],
                                     "max_trials": 12})
    report = asyncio.run(Composer(sp, SimulatedEvaluator(), problems(20), budget_tokens=10**9).run())
    failed = [t for t in report.trials if t.state == "failed"]
    assert failed and all("invalid configuration" in t.error and "top_k" in t.error for t in failed)
    assert report.best_trial() is not None and report.best_trial().params["L1.ranker.top_k"] == 1


def test_space_validation_and_realize(tmp_path):
    with pytest.raises(ValueError, match="not a candidate layer"):
        SearchSpace.model_validate({"generator": {"type": "chain_of_thought"}, "layers": [{"type": "vote"}]})
    with pytest.raises(ValueError, match="unknown node type 'nope'"):
        SearchSpace.model_validate({"generator": {"type": "nope"}})
    with pytest.raises(ValueError, match=r"generator: a node type is a name, not list \[\]"):  # found by the fuzz test
        SearchSpace.model_validate({"generator": {"type": {"choices": [[]]}}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("generator: {type: chain_of_thought}\nsamples: {int: [4, 1]}\n")
    with pytest.raises(SpaceError, match="(?s)bad.yaml.*low <= high"):
        load_space(bad)
    space = SearchSpace.model_validate({"generator": {"type": "chain_of_thought"}, "samples": {"int": [1, 8]},
                                        "layers": [{"type": "fuser"}]})
    assert space.size() == 16
    one = realize(space, lambda n, p: {"samples": 1, "L1.fuser": False}[n])
    assert one["nodes"][0]["type"] == "chain_of_thought"
    sc = realize(space, lambda n, p: {"samples": 3, "L1.fuser": False}[n], {"max_tokens": 48})
    assert sc["nodes"][0]["config"] == {"k": 3, "inner": {"type": "chain_of_thought", "config": {"max_tokens": 48}}}
    fused = realize(space, lambda n, p: {"samples": 3, "L1.fuser": True}[n], {"max_tokens": 48})
    cfg = fused["nodes"][0]["config"]
    assert cfg["n"] == 3 and cfg["max_tokens"] == 48 and cfg["source"]["config"]["max_tokens"] == 48
    build_pipeline(fused)


def test_real_nodes_and_outputs_with_a_scripted_model(tmp_path, checker):
    """BatchEvaluator runs real pipelines; the fuser repairs a model that is right only on its first sample."""
    def lm_fn(prompt, i):
        if "candidate solutions" in prompt:
            return "Solution 1 is right: \\boxed{4}"
        return "\\boxed{4}" if i == 0 else "\\boxed{5}"

    space = SearchSpace.model_validate({"name": "scripted", "generator": {"type": "chain_of_thought",
                                        "config": {"temperature": 0.7}}, "samples": {"choices": [2, 3]},
                                        "layers": [{"type": "fuser"}], "startup_trials": 4, "max_trials": 6})
    probs = [Problem(id=f"p{i}", question=f"{i}: 2+2?", gold="4", source="t") for i in range(2)]
    lm = ScriptedLM(lm_fn)
    ev = BatchEvaluator(lm, checker, tmp_path, concurrency=2)
    report = asyncio.run(Composer(space, ev, probs, budget_tokens=10**6, out_dir=tmp_path, model="scripted").run())
    assert "space exhausted" in report.stop_reason or "max_trials" in report.stop_reason
    by_desc = {t.description: t.row.accuracy for t in report.trials if t.state == "complete"}
    assert by_desc["vote x3(chain_of_thought[temperature=0.7])"] == 0.0  # 1 right of 3: the majority is wrong
    best = report.best_trial()
    assert best.spec["nodes"][0]["type"] == "fuser" and best.row.accuracy == 1.0
    assert best.params == {"samples": 2, "L1.fuser": True}  # ties go to fewer tokens: 2 samples, not 3
    paths = write_compose_outputs(report, tmp_path)
    spec = yaml.safe_load(paths["best"].read_text())
    assert spec == best.spec and build_pipeline(spec)
    csv_lines = paths["csv"].read_text().strip().splitlines()
    assert len(csv_lines) == 1 + len(report.trials) and "(best)" in paths["md"].read_text()
    assert paths["png"].stat().st_size > 5000
    assert json.loads(paths["json"].read_text())["best"] == best.number
    # Rerun with room for more trials: the study continues; configurations already run cost nothing.
    again = asyncio.run(Composer(space, BatchEvaluator(lm, checker, tmp_path), probs, budget_tokens=10**6,
                                 out_dir=tmp_path, max_trials=len(report.trials) + 3).run())
    assert [t.number for t in again.trials] == list(range(len(report.trials) + 3))
    assert again.trials[: len(report.trials)] == report.trials
    seen = {json.dumps(t.spec, sort_keys=True) for t in report.trials}
    for t in again.trials[len(report.trials):]:
        if json.dumps(t.spec, sort_keys=True) in seen:
            old = next(x.row for x in report.trials if x.spec == t.spec)
            assert t.new_tokens == 0 and (t.row.correct, t.row.mean_tokens) == (old.correct, old.mean_tokens)


def test_failed_problems_count_as_wrong_when_picking_the_best():
    """A configuration that crashes on all but one (solved) problem must not beat one solving 15/20."""
    class Crashy(SimulatedEvaluator):
        async def evaluate(self, spec, probs):
            ev = await super().evaluate(spec, probs)
            if spec["nodes"][0]["type"] == "chain_of_thought":  # samples = 1
                for i, r in enumerate(ev.results):
                    r.correct, r.status = (True, "ok") if i == 0 else (None, "error")
            else:
                for i, r in enumerate(ev.results):
                    r.correct = i < 15
            return ev

    sp = SearchSpace.model_validate({"generator": {"type": "chain_of_thought", "config": {"temperature": 0.7}},
                                     "samples": {"choices": [1, 2]},
                                     "startup_trials": 2, "max_trials": 4})
    report = asyncio.run(Composer(sp, Crashy(), problems(20), budget_tokens=10**9).run())
    crashy = [t for t in report.trials if t.params["samples"] == 1]
    assert crashy and crashy[0].row is not None, crashy[0].error
    assert crashy[0].row.accuracy == 1.0 and crashy[0].row.failed == 19
    assert report.best_trial().params["samples"] == 2


@pytest.mark.parametrize("name", ["archon_small.yaml", "tiny.yaml"])
def test_example_spaces_load_and_every_layer_on_builds(name):
    from pathlib import Path

    space = load_space(Path(__file__).resolve().parents[2] / "examples" / "compose" / name)

    def first(n, p):  # every optional layer on, each parameter at its first value / lower bound
        if getattr(p, "choices", None) == [True, False]:
            return True
        return p.choices[0] if hasattr(p, "choices") else (p.int_[0] if hasattr(p, "int_") else p.float_[0])

    spec = realize(space, first)
    assert build_pipeline(spec).to_spec()["nodes"][0]["type"] == space.layers[-1].type
