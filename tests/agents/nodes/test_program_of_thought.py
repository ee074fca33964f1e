import asyncio

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import ProgramOfThought, Vote


def run(node, lm, executor, checker=None):
    ctx = RunContext(backend=lm, executor=executor, checker=checker)
    return asyncio.run(node(ctx, question="q")), ctx


def test_answer_is_the_last_printed_line(executor):
    lm = ScriptedLM(["Here:\n```python\nimport sympy as sp\nx = sp.Symbol('x')\nprint('roots')\nprint(max(sp.solve(x**2 - 9, x)))\n```"])
    out, _ = run(ProgramOfThought(), lm, executor)
    assert out.answer == "3" and out.error is None


def test_unclosed_fence_and_last_expression(executor):
    out, _ = run(ProgramOfThought(), ScriptedLM(["```python\n2 ** 10"]), executor)
    assert out.answer == "1024"


def test_failures_abstain(executor):
    out, _ = run(ProgramOfThought(), ScriptedLM(["```python\nraise ValueError('bad')\n```"]), executor)
    assert out.answer is None and "ValueError" in out.error
    out, _ = run(ProgramOfThought(timeout_s=0.5), ScriptedLM(["```python\nwhile True: pass\n```"]), executor)
    assert out.answer is None and out.killed_by == "timeout"
    out, _ = run(ProgramOfThought(), ScriptedLM(["I will not write code."]), executor)
    assert out.answer is None and out.program is None


def test_vote_over_programs(executor, checker):
    lm = ScriptedLM(["```python\nprint(0.5)\n```", "```python\nprint('1/2')\n```", "```python\nprint(7)\n```"])
    out, ctx = run(Vote(inner=ProgramOfThought(temperature=0.8), k=3), lm, executor, checker)
    assert out.answer == "0.5" and abs(out.confidence - 2 / 3) < 1e-9
    assert set(ctx.ledger.per_node) == {"vote", "vote/s0", "vote/s1", "vote/s2"}
    assert ctx.ledger.per_node["vote/s1"].samples == 1
