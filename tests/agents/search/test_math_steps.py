import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ChatPrompt, ScriptedLM
from lemmaflow.agents.search import MathState, MathStepProblem
from lemmaflow.agents.search.math_steps import MathStep


def problem(**kw):
    return MathStepProblem("What is 3+4?", value_fn=lambda q, steps: len(steps) / 10, **kw)


def test_prompts_continue_the_assistant_message_with_the_steps_so_far():
    p = problem()
    base = p.prompt_for(MathState())
    assert isinstance(base, ChatPrompt) and base.assistant_prefix == ""
    later = p.prompt_for(MathState(steps=("3 + 4 = 7", "So 7.")))
    assert later.messages == base.messages and later.assistant_prefix == "3 + 4 = 7\n\nSo 7.\n\n"
    plain = MathStepProblem("Q?", {"chat": False, "system": None, "delimiter": "\n"}, value_fn=lambda q, s: 0.0)
    assert plain.prompt_for(MathState(steps=("a", "b"))).endswith("Q?a\nb\n")


def test_step_ends_a_solution_on_eos_or_boxed_answer_but_not_on_the_delimiter():
    lm = ScriptedLM(["Step one.\n\nmore", "Done, no delimiter", "So \\boxed{7}.\n\n"])
    p = problem()
    [props] = asyncio.run(p.propose(RunContext(backend=lm), [MathState()], 3))
    assert [(x.action.text, x.action.final) for x in props] == [
        ("Step one.", False), ("Done, no delimiter", True), ("So \\boxed{7}.", True)]
    assert [x.tokens for x in props] == [2, 3, 2]
    _, params = lm.calls[0]
    assert params.n == 3 and params.stop == ("\n\n",) and params.max_tokens == 256
    s = p.apply(MathState(), props[2].action)
    assert p.is_terminal(s) and p.answer(s) == "7"


def test_values_from_a_hook_and_empty_states_are_uninformative():
    p = problem()
    vals = asyncio.run(p.evaluate(RunContext(backend=ScriptedLM(["-"])), [MathState(), MathState(steps=("a", "b"))]))
    assert vals == [0.5, 0.2]
    with pytest.raises(ValueError, match="scorer or a value_fn"):
        MathStepProblem("Q")
    with pytest.raises(ValueError, match="question"):
        MathStepProblem("Q", {"prompt": "no field"}, value_fn=lambda q, s: 0.0)


def test_rollout_finishes_in_one_generation_without_the_step_stop():
    lm = ScriptedLM(["2 + 2 = 4\n\nSo \\boxed{4}"])
    p = problem()
    [(state, tokens)] = asyncio.run(p.rollout(RunContext(backend=lm), [MathState(steps=("start",))]))
    assert state.steps == ("start", "2 + 2 = 4", "So \\boxed{4}") and state.done and tokens == 7
    assert lm.calls[0][1].stop == () and lm.calls[0][1].max_tokens == 512
    assert p.describe(MathStep("  x \n")) == "x"
