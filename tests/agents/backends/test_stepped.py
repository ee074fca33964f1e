"""SteppedLM: a scripted model timed by a continuous-batching step loop (no real time asserted)."""

import asyncio

import pytest

from lemmaflow.agents.backends import BackendError, SamplingParams, ScriptedLM, SteppedLM


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def by_prompt(lengths: dict[str, int]):
    return lambda prompt, i: words(lengths[prompt])


def test_a_short_request_returns_as_soon_as_its_last_token_is_out():
    lm = SteppedLM(by_prompt({"short": 2, "long": 5}), step_s=0.001)
    done: list[tuple[str, int]] = []

    async def one(p):
        await lm.generate([p], SamplingParams())
        done.append((p, lm.stats.steps))

    async def main():
        await asyncio.gather(one("long"), one("short"))

    asyncio.run(main())
    # One batch of two for two steps, then the long one alone; the short caller did not wait for it.
    assert done == [("short", 2), ("long", 5)]
    assert lm.stats.batch_sizes == [2, 2, 1, 1, 1] and lm.stats.tokens == 7


def test_a_request_arriving_mid_run_joins_the_running_batch():
    lm = SteppedLM(by_prompt({"a": 6, "b": 2}), step_s=0.002)

    async def main():
        first = asyncio.create_task(lm.generate(["a"], SamplingParams()))
        while lm.stats.steps < 2:
            await asyncio.sleep(0.0005)
        await lm.generate(["b"], SamplingParams())
        assert not first.done()  # b finished while a was still generating
        await first

    asyncio.run(main())
    assert lm.stats.steps == 6 and max(lm.stats.batch_sizes) == 2 and lm.stats.batch_sizes[:2] == [1, 1]


def test_text_stops_and_token_limits_are_the_scripted_models():
    script = lambda prompt, i: "think\n```python\nprint(1)\n```\nmore words after the block"  # noqa: E731
    params = SamplingParams(stop=["\n```\n"], include_stop_str_in_output=True)
    stepped = SteppedLM(script, step_s=0.0)
    got = asyncio.run(stepped.generate(["q"], params))[0].completions[0]
    want = asyncio.run(ScriptedLM(script).generate(["q"], params))[0].completions[0]
    assert got == want and got.stop_reason == "\n```\n" and got.text.endswith("print(1)\n```\n")
    assert stepped.stats.steps == got.completion_tokens == 4  # one step per token of the cut text
    c = asyncio.run(stepped.generate(["q"], SamplingParams(max_tokens=2)))[0].completions[0]
    assert c.finish_reason == "length" and c.completion_tokens == 2 and stepped.stats.steps == 6


def test_max_num_seqs_makes_requests_wait_for_a_slot():
    lm = SteppedLM(by_prompt({"a": 3, "b": 3, "c": 3}), step_s=0.0, max_num_seqs=2)
    asyncio.run(lm.generate(["a", "b", "c"], SamplingParams()))
    assert lm.stats.batch_sizes == [2, 2, 2, 1, 1, 1]


def test_n_samples_are_sequences_and_the_generation_waits_for_all():
    lm = SteppedLM(lambda prompt, i: words(1 + 2 * i), step_s=0.0)
    gen = asyncio.run(lm.generate(["q"], SamplingParams(n=3, temperature=1.0)))[0]
    assert [c.completion_tokens for c in gen.completions] == [1, 3, 5]
    assert lm.stats.batch_sizes == [3, 2, 2, 1, 1]


def test_step_cost_model_and_busy_time():
    flat = SteppedLM(by_prompt({"a": 2}), step_s=0.01)
    growing = SteppedLM(by_prompt({"a": 2}), step_s=0.01, per_seq_s=0.005)
    assert flat.step_cost(1) == flat.step_cost(64) == 0.01
    assert growing.step_cost(1) == pytest.approx(0.015) and growing.step_cost(4) == pytest.approx(0.03)
    asyncio.run(growing.generate(["a"] * 4, SamplingParams()))
    # Two steps of four sequences each took (at least, up to timer resolution) their modelled cost.
    assert growing.stats.batch_sizes == [4, 4] and growing.stats.busy_s >= 0.9 * 2 * 0.03


def test_a_cancelled_call_frees_its_slots():
    lm = SteppedLM(by_prompt({"long": 1000, "short": 2}), step_s=0.001, max_num_seqs=1)

    async def main():
        t = asyncio.create_task(lm.generate(["long"], SamplingParams()))
        while lm.stats.steps < 2:
            await asyncio.sleep(0.0005)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        s0 = lm.stats.steps
        await lm.generate(["short"], SamplingParams())
        return lm.stats.steps - s0

    assert asyncio.run(main()) <= 3  # the short one got the only slot at once


def test_successive_event_loops_and_close():
    lm = SteppedLM(by_prompt({"a": 2}), step_s=0.0)
    for _ in range(2):  # each asyncio.run is a new event loop
        assert asyncio.run(lm.generate(["a"], SamplingParams()))[0].completions[0].completion_tokens == 2
    assert lm.stats.steps == 4
    asyncio.run(lm.aclose())
    with pytest.raises(BackendError):
        asyncio.run(lm.generate(["a"], SamplingParams()))
    with pytest.raises(ValueError):
        SteppedLM(by_prompt({}), step_s=-1)
