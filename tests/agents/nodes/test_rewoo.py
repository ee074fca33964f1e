"""ReWOO with a scripted model and a real sandbox: plan → worker (no LLM calls) → solver, repair, failures."""

import asyncio
import json

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import ReWOO
from lemmaflow.agents.nodes.rewoo_plan import PlanError, PlanSyntaxError

GOOD = "Plan: Count the pencils.\n#E1 = Python[print(3 * 12)]\nPlan: Give 5 away.\n#E2 = Sympy[#E1 - 5]"
BAD = "First I count the pencils.\n#E1 = Python[print(3 * 12)]"


def scripted(planner_replies, solver="So \\boxed{31}."):
    """Planner replies in order (repairs included); anything else is the solver."""
    replies = iter(planner_replies)

    def f(prompt, i):
        return next(replies) if "make plans" in prompt else solver
    return ScriptedLM(f)


def run(node, lm, executor, question="Tom has 3 boxes of 12 pencils and gives away 5. How many are left?", **ctx_kw):
    ctx = RunContext(backend=lm, executor=executor, **ctx_kw)
    return asyncio.run(node(ctx, question=question)), ctx


def test_plan_worker_solver(executor):
    lm = scripted([GOOD])
    out, ctx = run(ReWOO(), lm, executor)
    assert out.answer == "31" and out.repairs == 0 and out.plan_error is None
    assert [(s.tool, s.resolved_input, s.evidence, s.ok) for s in out.steps] == [
        ("python", "print(3 * 12)", "36", True), ("sympy", "36 - 5", "31", True)]
    assert out.plan == GOOD
    # Two LLM calls in all: the planner and the solver; the solver saw every plan and evidence.
    assert len(lm.calls) == 2
    solver_prompt = lm.calls[1][0][0]
    assert "Plan: Count the pencils.\nEvidence #E1 (python): 36" in solver_prompt and "#E2 (sympy): 31" in solver_prompt
    # The prompt lists only the tools this run can serve (no store: no Retrieve).
    planner_prompt = lm.calls[0][0][0]
    assert "Python[input]:" in planner_prompt and "Sympy[input]:" in planner_prompt and "Retrieve[input]" not in planner_prompt
    assert set(ctx.ledger.per_node) >= {"rewoo/planner", "rewoo/solver"}
    (plan_ev,) = ctx.trace.of_kind("plan")
    assert [s["deps"] for s in plan_ev.data["steps"]] == [[], ["#E1"]]
    assert [e.data["output"] for e in ctx.trace.of_kind("tool_call")] == ["36", "31"]


def test_worker_makes_no_llm_calls_and_runs_independent_steps_together(executor):
    plan_text = ("Plan: a\n#E1 = Python[print(2)]\nPlan: b\n#E2 = Python[print(3)]\n"
                 "Plan: c\n#E3 = Python[print(#E1 * #E2)]\nPlan: d\n#E4 = Sympy[#E3 + #E1]")
    lm = scripted([plan_text], solver="\\boxed{8}")
    node = ReWOO()
    ctx = RunContext(backend=lm, executor=executor)
    tools = node._registry(ctx)
    plan = node._parse(plan_text, tools)
    assert [[s.index for s in lvl] for lvl in plan.levels()] == [[1, 2], [3], [4]]
    before = (len(lm.calls), ctx.ledger.total.llm_calls)
    steps = asyncio.run(node.work(plan, tools, ctx))
    assert (len(lm.calls), ctx.ledger.total.llm_calls) == before == (0, 0)
    assert [s.evidence for s in steps] == ["2", "3", "6", "8"]
    assert steps[3].resolved_input == "6 + 2"
    # Through the node: planner + solver, however many tools ran.
    out, ctx = run(ReWOO(), scripted([plan_text], "\\boxed{8}"), executor)
    assert out.answer == "8" and ctx.ledger.total.llm_calls == 2 and "rewoo/worker" not in ctx.ledger.per_node


def test_malformed_plan_is_repaired_with_the_error_shown(executor):
    lm = scripted([BAD, GOOD])
    out, ctx = run(ReWOO(), lm, executor)
    assert out.answer == "31" and out.repairs == 1 and len(lm.calls) == 3
    repair_prompt = lm.calls[1][0][0]
    assert "<assistant>" + BAD in repair_prompt  # the bad plan is the model's own turn
    assert "could not be parsed: line 1: expected 'Plan: ...'" in repair_prompt
    (info,) = [e for e in ctx.trace.of_kind("info") if "plan_error" in e.data]
    assert info.data["error_type"] == "PlanSyntaxError"


def test_unknown_tool_is_a_repairable_error(executor):
    lm = scripted(["Plan: look it up\n#E1 = Retrieve[pencils]", GOOD])
    out, _ = run(ReWOO(), lm, executor)  # no store: Retrieve is not offered
    assert out.answer == "31" and "unknown tool 'Retrieve'; available: python, sympy" in lm.calls[1][0][0]


def test_malformed_twice_fails_only_that_problem(executor, tmp_path):
    from lemmaflow.agents.batch import BatchRunner
    from lemmaflow.agents.graph import Pipeline
    from lemmaflow.tools.answers import AnswerChecker
    from lemmaflow.tools.datasets import Problem

    with pytest.raises(PlanSyntaxError, match=r"line 1: .*gave up after 1 repair"):
        run(ReWOO(), scripted([BAD, BAD]), executor)
    abstained, _ = run(ReWOO(on_bad_plan="abstain"), scripted([BAD, BAD]), executor)
    assert abstained.answer is None and abstained.steps == [] and "line 1" in abstained.plan_error

    def lm_fn(prompt, i):
        if "make plans" not in prompt:
            return "\\boxed{31}"
        return BAD if "broken" in prompt else GOOD
    pipe = Pipeline(inputs={"question": str})
    pipe.add("rewoo", ReWOO())
    pipe.connect("input.question", "rewoo.question")
    out = tmp_path / "out.jsonl"
    problems = [Problem(id="ok", question="pencils?", gold="31", source="t"),
                Problem(id="bad", question="broken pencils?", gold="31", source="t")]
    with AnswerChecker() as checker:
        summary = asyncio.run(BatchRunner(pipe, ScriptedLM(lm_fn), checker, out_path=out, executor=executor).run(problems))
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["ok"]["status"] == "ok" and rows["ok"]["correct"]
    assert rows["bad"]["status"] == "error" and rows["bad"]["error"].startswith("PlanSyntaxError: line 1:")
    assert summary.failed == 1


def test_tool_errors_become_evidence(executor):
    plan = ("Plan: divide\n#E1 = Python[print(1/0)]\nPlan: use it\n#E2 = Sympy[#E1 + 1]\n"
            "Plan: independent\n#E3 = Sympy[open(1)]\nPlan: fine\n#E4 = Sympy[2 + 2]")
    lm = scripted([plan], solver="\\boxed{4}")
    out, _ = run(ReWOO(), lm, executor)
    e1, e2, e3, e4 = out.steps
    assert not e1.ok and "ZeroDivisionError" in e1.evidence and e1.evidence.startswith("Error:")
    assert not e2.ok and e2.resolved_input is None and "needs #E1, which failed" in e2.evidence
    assert not e3.ok and "function 'open' is not allowed" in e3.evidence
    assert e4.ok and e4.evidence == "4"
    solver_prompt = lm.calls[1][0][0]
    assert "ZeroDivisionError" in solver_prompt and "needs #E1, which failed" in solver_prompt
    assert out.answer == "4"


def test_retrieve_uses_the_skill_library(executor, tmp_path):
    from lemmaflow.skills_library import Entry, HashingEmbedder, open_store

    with open_store(tmp_path / "lib.db", embedder=HashingEmbedder()) as store:
        r = store.add(Entry(kind="tool", name="gcd_list", language="python", status="verified",
                            statement="gcd_list(xs) -> int", docstring="Greatest common divisor of a list.",
                            source="def gcd_list(xs):\n    import math\n    return math.gcd(*xs)\n"))
        lm = scripted(["Plan: find a helper\n#E1 = Retrieve[greatest common divisor of a list]\n"
                       "Plan: use it\n#E2 = Python[import math\nprint(math.gcd(12, 18))]"], solver="\\boxed{6}")
        out, ctx = run(ReWOO(), lm, executor, problem_id="p1", store=store)
        assert "Retrieve[input]:" in lm.calls[0][0][0]
        assert out.steps[0].ok and "gcd_list" in out.steps[0].evidence and out.steps[1].evidence == "6"
        (ev,) = store.events(event="retrieved")  # reuse accounting: the hit was recorded for this problem
        assert ev.entry_id == r.id and ev.problem_id == "p1"


def test_needs_a_usable_tool():
    with pytest.raises(RuntimeError, match="no usable tools"):
        asyncio.run(ReWOO()(RunContext(backend=ScriptedLM(["x"])), question="q"))


def test_too_long_plan_is_malformed(executor):
    long_plan = "\n".join(f"Plan: s{i}\n#E{i} = Sympy[{i}]" for i in range(1, 5))
    with pytest.raises(PlanError, match="line 8: more than 3 steps"):
        run(ReWOO(max_steps=3), scripted([long_plan, long_plan]), executor)
