import asyncio

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ChatPrompt, ScriptedLM
from lemmaflow.agents.nodes import ChainOfThought


def test_single_greedy_chain():
    lm = ScriptedLM(["2 and 2 make \\boxed{4}."])
    out = asyncio.run(ChainOfThought()(RunContext(backend=lm), question="What is 2+2?"))
    assert out.answer == "4" and not out.abstained
    keys, params = lm.calls[0]
    assert params.n == 1 and params.temperature == 0.0
    assert "What is 2+2?" in keys[0] and "<system>" in keys[0]


def test_plain_text_prompt_when_chat_is_off():
    lm = ScriptedLM(["\\boxed{1}"])
    asyncio.run(ChainOfThought(chat=False, system=None)(RunContext(backend=lm), question="Q?"))
    assert lm.calls[0][0][0].startswith("Solve the following") and "<user>" not in lm.calls[0][0][0]
