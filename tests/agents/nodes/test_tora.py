"""ToRA / DotaMath rounds with a scripted model and a real sandbox session."""

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import DotaMath, ToRA


def run(node, lm, executor, question="q"):
    ctx = RunContext(backend=lm, executor=executor)
    return asyncio.run(node(ctx, question=question)), ctx


def test_rounds_feed_output_back_and_keep_variables(executor):
    lm = ScriptedLM([
        "Let x be the product.\n```python\nx = 6 * 7\nprint(x)\n```\n",
        "Now double it.\n```python\nprint(2 * x)\n```output",
        "So the answer is \\boxed{84}.",
    ])
    out, ctx = run(ToRA(), lm, executor)
    assert out.answer == "84" and out.finish == "answer" and out.rounds == 2
    assert [e.output.strip() for e in out.executions] == ["42", "84"]  # x survived between rounds
    assert "```output\n42\n```" in out.chain and "```output\n84\n```" in out.chain
    # Round 2 and 3 prompts continued the model's own message with the outputs.
    prompts = [keys[0] for keys, _ in lm.calls]
    assert prompts[1].endswith("```output\n42\n```\n")
    assert prompts[2].endswith("```output\n84\n```\n")
    params = lm.calls[0][1]
    assert "```output" in params.stop and params.include_stop_str_in_output
    assert len(ctx.trace.of_kind("tool_call")) == 2


def test_errors_are_shown_to_the_model(executor):
    lm = ScriptedLM(["```python\n1/0\n```\n", "Oops. \\boxed{0}"])
    out, _ = run(ToRA(), lm, executor)
    assert not out.executions[0].ok
    assert "ZeroDivisionError" in out.executions[0].output
    assert "Traceback" not in out.executions[0].output or len(out.executions[0].output) < 800


def test_round_limit(executor):
    lm = ScriptedLM(["```python\nprint(1)\n```\n"])  # never answers
    out, _ = run(ToRA(max_rounds=3), lm, executor)
    assert out.rounds == 3 and out.finish == "max_rounds" and out.answer is None


def test_timeout_in_a_round_resets_session_and_chain_goes_on(executor):
    lm = ScriptedLM([
        "```python\ny = 5\nwhile True: pass\n```\n",
        "```python\nprint(y)\n```\n",
        "\\boxed{5}",
    ])
    out, _ = run(ToRA(timeout_s=1.0), lm, executor)
    first, second = out.executions
    assert first.killed_by == "timeout" and "timeout" in first.output.lower()
    assert not second.ok and "NameError" in second.output  # the killed interpreter's variables are gone
    assert out.answer == "5"


def test_no_code_ends_the_chain(executor):
    out, _ = run(ToRA(), ScriptedLM(["Just 3. \\boxed{3}"]), executor)
    assert out.rounds == 0 and out.answer == "3" and out.finish == "answer"


def test_dotamath_asks_for_corrections_and_gives_up(executor):
    lm = ScriptedLM(["Sub-tasks: 1. divide.\n```python\nprint(1/0)\n```\n"])
    out, _ = run(DotaMath(max_corrections=1), lm, executor)
    assert out.finish == "corrections" and out.rounds == 2
    assert "The code above failed" in out.chain


def test_dotamath_self_corrects(executor):
    lm = ScriptedLM([
        "1. compute 10/4\n```python\nprint(10/q)\n```\n",
        "q was undefined. Fixed:\n```python\nprint(10/4)\n```\n",
        "\\boxed{2.5}",
    ])
    out, _ = run(DotaMath(), lm, executor)
    assert [e.ok for e in out.executions] == [False, True]
    assert out.answer == "2.5"


def test_needs_an_executor():
    with pytest.raises(RuntimeError, match="executor"):
        asyncio.run(ToRA()(RunContext(backend=ScriptedLM(["x"])), question="q"))


def test_few_shot_examples_go_in_as_chat_turns_before_the_question(executor):
    from lemmaflow.agents.backends import ChatPrompt
    from lemmaflow.agents.nodes import ToRAExample

    ex = ToRAExample(question="2+3?", solution="```python\nprint(2+3)\n```\n```output\n5\n```\n\\boxed{5}")
    node = ToRA(system="Be brief.", examples=[ex])
    p = node.prompt("6*7?")
    assert [(m.role, m.content) for m in p.messages] == [
        ("system", "Be brief."), ("user", "2+3?"), ("assistant", ex.solution), ("user", "6*7?")]
    # Without examples the prompt is the plain system + question conversation.
    assert ToRA(system="Be brief.").prompt("6*7?") == ChatPrompt.user("6*7?", system="Be brief.")
    lm = ScriptedLM(["```python\nprint(6*7)\n```\n", "\\boxed{42}"])
    out, _ = run(node, lm, executor, question="6*7?")
    assert out.answer == "42" and out.rounds == 1
    # Every round continues the few-shot conversation (examples precede the question).
    for keys, _ in lm.calls:
        assert keys[0].startswith("<system>Be brief.<user>2+3?<assistant>```python") and "<user>6*7?" in keys[0]
    with pytest.raises(ValueError):
        ToRAExample(question="", solution="x")


def test_chains_on_a_stepped_engine_resume_without_waiting_for_each_other(executor):
    """ToRA chains over the continuous-batching double: a chain whose code ran rejoins the batch at once."""
    from lemmaflow.agents.backends import SteppedLM

    def script(prompt, i):
        q, prefix = prompt.rsplit("<user>", 1)[1].split("<assistant>", 1)
        if q == "long":  # no code: 100 tokens of prose, the last one the answer
            return " ".join(["w"] * 99) + " \\boxed{1}"
        if "```output" not in prefix:  # "short": 9 tokens, ending in a block
            return "w w w w w w\n```python\nprint(2)\n```\n"
        return "so \\boxed{2}"  # 2 tokens

    lm = SteppedLM(script, step_s=0.005)  # 0.5 s of steps: room for the block to run meanwhile

    async def main():
        ctxs = [RunContext(backend=lm, executor=executor) for _ in range(2)]
        return await asyncio.gather(*(ToRA()(c, question=q) for c, q in zip(ctxs, ["long", "short"])))

    long, short = asyncio.run(main())
    assert (long.answer, long.rounds, short.answer, short.rounds) == ("1", 0, "2", 1)
    # The short chain's block ran and its second generation followed inside the long chain's 100
    # steps (a round-synchronous loop would need 100 + 2: round two waits for the long generation).
    assert lm.stats.steps == 100 and lm.stats.tokens == 100 + 9 + 2
    assert lm.stats.batch_sizes[:9] == [2] * 9 and lm.stats.batch_sizes[-1] == 1
