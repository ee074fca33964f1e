"""The in-process vLLM backend on the real embedded model (vLLM CPU build).

Workloads stay small (few prompts, short max_tokens): this proves the engine
path, batching and error isolation, not model quality.
"""

import asyncio
import time

import pytest

from lemmaflow.agents.backends import BackendError, ChatPrompt, SamplingParams, make_embedded_backend

pytestmark = pytest.mark.embedded


@pytest.fixture(scope="module")
def engine():
    b = make_embedded_backend(seed=0, max_model_len=1024)
    yield b
    b.close()


def test_concurrent_callers_share_the_engine(engine):
    async def go():
        prompts = [ChatPrompt.user(f"What is {i} plus {i}?") for i in range(6)]
        return await asyncio.gather(*(engine.generate([p], SamplingParams(n=2, max_tokens=12)) for p in prompts))

    outs = asyncio.run(go())
    assert len(outs) == 6
    for (g,) in outs:
        assert len(g.completions) == 2 and g.prompt_tokens > 10
        assert all(1 <= c.completion_tokens <= 12 for c in g.completions)
        assert all(c.finish_reason in ("stop", "length") for c in g.completions)


def test_stop_strings_and_length(engine):
    async def go():
        a = await engine.generate(["Count: 1, 2, 3, 4,"], SamplingParams(n=3, max_tokens=40, temperature=0.2, stop=[","]))
        b = await engine.generate(["Count: 1, 2, 3, 4,"], SamplingParams(n=1, max_tokens=3, temperature=0.0))
        return a[0], b[0]

    a, b = asyncio.run(go())
    assert all("," not in c.text for c in a.completions)
    assert any(c.stop_reason == "," for c in a.completions)
    assert b.completions[0].completion_tokens == 3 and b.completions[0].finish_reason == "length"


def test_chat_template_and_assistant_prefix(engine):
    text = engine.render(ChatPrompt.user("hi", system="sys").continued("Step 1:"))
    assert text.startswith("<|im_start|>system\nsys<|im_end|>")
    assert text.endswith("<|im_start|>assistant\nStep 1:")


def test_invalid_sampling_params_are_a_clear_error(engine):
    with pytest.raises(BackendError, match="n must be 1 when using greedy"):
        asyncio.run(engine.generate(["x"], SamplingParams(n=2, temperature=0.0, max_tokens=2)))


def test_per_request_seed_is_refused_on_cpu_with_a_hint(engine):
    with pytest.raises(BackendError, match="seed the engine"):
        asyncio.run(engine.generate(["x"], SamplingParams(seed=3, max_tokens=2)))


def test_a_bad_request_fails_alone(engine):
    async def go():
        too_long = "word " * 3000  # beyond max_model_len=1024
        bad = engine.generate([too_long], SamplingParams(max_tokens=4))
        good = engine.generate(["Hello"], SamplingParams(max_tokens=4))
        return await asyncio.gather(bad, good, return_exceptions=True)

    bad, good = asyncio.run(go())
    assert isinstance(bad, BackendError) and "rejected" in str(bad)
    assert good[0].completions[0].completion_tokens >= 1


def test_late_short_request_finishes_before_early_long_one(engine):
    """Continuous batching: a request added mid-flight does not wait for the running batch."""

    async def go():
        done = {}

        async def run(name, prompt, params, delay=0.0):
            await asyncio.sleep(delay)
            await engine.generate([prompt], params)
            done[name] = time.monotonic()

        await asyncio.gather(
            run("long", "List the numbers from 1 to 300 separated by commas: 1, 2, 3,",
                SamplingParams(n=2, max_tokens=160, temperature=0.5)),
            run("short", "Hi", SamplingParams(max_tokens=2), delay=0.3),
        )
        return done

    done = asyncio.run(go())
    assert done["short"] < done["long"]


def test_cancelled_requests_are_aborted_and_engine_keeps_serving(engine):
    async def go():
        task = asyncio.ensure_future(engine.generate(["Write a long story."], SamplingParams(n=4, max_tokens=200)))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await engine.generate(["Hello"], SamplingParams(max_tokens=3))

    out = asyncio.run(go())
    assert out[0].completions[0].completion_tokens >= 1
    assert not engine._pending  # the aborted request left no engine slot behind


def test_logprobs_of_the_sampled_tokens(engine):
    async def go():
        off = await engine.generate(["The capital of France is"], SamplingParams(n=1, max_tokens=6, temperature=0.0))
        on = await engine.generate(["The capital of France is"], SamplingParams(n=2, max_tokens=8, logprobs=0))
        return off[0], on[0]

    off, on = asyncio.run(go())
    assert off.completions[0].logprobs is None and off.completions[0].cumulative_logprob is None
    for c in on.completions:
        assert len(c.logprobs) == c.completion_tokens >= 1  # one entry per generated token
        assert all(t.logprob <= 0 and t.top is None for t in c.logprobs)
        assert c.cumulative_logprob == pytest.approx(sum(t.logprob for t in c.logprobs), abs=1e-3)
        # The entries are the completion's tokens (plus the end-of-sequence token, which is not in the text).
        assert "".join(t.token for t in c.logprobs).startswith(c.text)
        assert c.mean_logprob == pytest.approx(c.cumulative_logprob / c.completion_tokens)


def test_logprobs_with_alternatives_greedy(engine):
    [g] = asyncio.run(engine.generate(["1, 2, 3, 4,"], SamplingParams(max_tokens=6, temperature=0.0, logprobs=2)))
    c = g.completions[0]
    assert len(c.logprobs) == c.completion_tokens
    for t in c.logprobs:
        assert 2 <= len(t.top) <= 3  # the 2 most likely, plus the sampled one if it is not among them
        assert t.top[t.token] == pytest.approx(t.logprob)
        # Greedy: the sampled token is the most likely one.
        assert t.logprob == pytest.approx(max(t.top.values()), abs=1e-4)
    assert c.cumulative_logprob == pytest.approx(sum(t.logprob for t in c.logprobs), abs=1e-3)
