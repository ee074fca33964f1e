"""ReAct with a scripted model and a real sandbox: one LLM call per tool use, the transcript growing."""

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import ReAct


def run(node, lm, executor):
    ctx = RunContext(backend=lm, executor=executor)
    return asyncio.run(node(ctx, question="Tom has 3 boxes of 12 pencils and gives away 5. How many are left?")), ctx


def test_thought_action_observation_loop(executor):
    lm = ScriptedLM([
        "Thought: count them.\nAction: Python[print(3 * 12)]\nObservation: 99 (made up; cut by the stop)",
        "Thought: subtract.\nAction: Sympy[36 - 5]\n",
        "Thought: I now know the answer.\nFinal Answer: \\boxed{31}",
    ])
    out, ctx = run(ReAct(), lm, executor)
    assert out.answer == "31" and out.finish == "answer"
    assert [(a.tool, a.input, a.observation, a.ok) for a in out.actions] == [
        ("python", "print(3 * 12)", "36", True), ("sympy", "36 - 5", "31", True)]
    assert "made up" not in out.chain and "Observation: 36\n" in out.chain
    # One call per step; each continues the model's message with everything so far.
    prompts = [keys[0] for keys, _ in lm.calls]
    assert len(prompts) == 3 and prompts[2].endswith("Observation: 31\n")
    assert "Observation: 36\n" in prompts[1] and "Observation: 36\n" in prompts[2]
    assert ctx.ledger.total.llm_calls == 3
    assert "\nObservation:" in lm.calls[0][1].stop
    assert len(ctx.trace.of_kind("tool_call")) == 2


def test_errors_and_unknown_tools_are_observations(executor):
    lm = ScriptedLM([
        "Thought: divide.\nAction: Python[print(1/0)]",
        "Thought: search.\nAction: Google[pencils]",
        "Final Answer: 7",
    ])
    out, _ = run(ReAct(), lm, executor)
    assert not out.actions[0].ok and "ZeroDivisionError" in out.actions[0].observation
    assert not out.actions[1].ok and "unknown tool 'Google'" in out.actions[1].observation
    assert out.answer == "7" and out.finish == "answer"


def test_step_limit_and_no_action(executor):
    out, _ = run(ReAct(max_steps=2), ScriptedLM(["Thought: again.\nAction: Sympy[1 + 1]"]), executor)
    assert len(out.actions) == 2 and out.finish == "max_steps" and out.answer is None
    out, _ = run(ReAct(), ScriptedLM(["I am not sure what to do."]), executor)
    assert out.finish == "no_action" and out.actions == [] and out.answer is None


def test_needs_a_usable_tool():
    with pytest.raises(RuntimeError, match="no usable tools"):
        asyncio.run(ReAct()(RunContext(backend=ScriptedLM(["x"])), question="q"))
