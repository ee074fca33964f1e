"""ScriptedLM: (text, logprob) script items, stops and truncation that keep token counts consistent."""

import asyncio

from lemmaflow.agents.backends import SamplingParams, ScriptedLM


def one(lm, **params):
    return asyncio.run(lm.generate(["q"], SamplingParams(**params)))[0].completions[0]


def test_text_logprob_items_give_one_entry_per_token():
    lm = ScriptedLM([("the answer is 4", -0.5), "plain text"])
    c = one(lm, logprobs=0)
    assert [t.token for t in c.logprobs] == ["the", "answer", "is", "4"]
    assert all(t.logprob == -0.5 and t.top is None for t in c.logprobs)
    assert c.cumulative_logprob == -2.0 and c.mean_logprob == -0.5 and len(c.logprobs) == c.completion_tokens
    c = one(lm, logprobs=0)  # a plain string item: log-probability 0 per token
    assert c.cumulative_logprob == 0.0 and len(c.logprobs) == 2


def test_no_logprobs_unless_asked():
    c = one(ScriptedLM([("a b", -1.0)]))
    assert c.text == "a b" and c.logprobs is None and c.cumulative_logprob is None and c.mean_logprob is None


def test_stop_and_truncation_apply_to_the_logprobs():
    c = one(ScriptedLM([("step one\n\nstep two", -0.1)]), logprobs=0, stop=["\n\n"])
    assert c.text == "step one" and len(c.logprobs) == 2 and c.stop_reason == "\n\n"
    c = one(ScriptedLM([("a\nb c\nd e", -0.1)]), logprobs=0, max_tokens=3)
    assert c.finish_reason == "length" and c.completion_tokens == 3 and len(c.logprobs) == 3
    assert c.text == "a\nb c"  # newlines kept, and really 3 tokens


def test_callable_scripts_may_return_items():
    lm = ScriptedLM(lambda prompt, i: (f"try {i}", -float(i + 1)))
    assert [one(lm, logprobs=0).cumulative_logprob for _ in range(2)] == [-2.0, -4.0]
