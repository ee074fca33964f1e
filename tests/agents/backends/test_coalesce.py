"""CoalescingBackend: concurrent calls merged into one backend call, results split back, failures isolated."""

import asyncio

import pytest

from lemmaflow.agents.backends import BackendError, CoalescingBackend, FailingLM, SamplingParams, ScriptedLM


def gather(lm, batches, params_of=lambda k: SamplingParams()):
    async def main():
        return await asyncio.gather(*(lm.generate(b, params_of(k)) for k, b in enumerate(batches)),
                                    return_exceptions=True)

    return asyncio.run(main())


def test_concurrent_calls_become_one_call_in_order():
    inner = ScriptedLM(lambda prompt, i: f"{prompt}:{i}")
    lm = CoalescingBackend(inner, window_s=0.02)
    outs = gather(lm, [["a", "b"], ["c"], ["d", "e", "f"]])
    assert [[g.completions[0].text for g in o] for o in outs] == [["a:0", "b:0"], ["c:0"], ["d:0", "e:0", "f:0"]]
    assert inner.calls == [(["a", "b", "c", "d", "e", "f"], SamplingParams())]
    assert lm.stats == {"calls": 3, "backend_calls": 1} and lm.model_id == inner.model_id


def test_different_sampling_params_are_separate_calls():
    inner = ScriptedLM(lambda prompt, i: prompt)
    lm = CoalescingBackend(inner, window_s=0.02)
    outs = gather(lm, [["a"], ["b"], ["c"]], lambda k: SamplingParams(n=1 + k % 2))
    assert [len(o[0].completions) for o in outs] == [1, 2, 1]
    assert sorted(len(p) for p, _ in inner.calls) == [1, 2]


def test_max_prompts_flushes_early():
    inner = ScriptedLM(lambda prompt, i: prompt)
    lm = CoalescingBackend(inner, window_s=10.0, max_prompts=2)
    outs = gather(lm, [["a"], ["b"]])  # would wait 10 s without the size trigger
    assert [o[0].completions[0].text for o in outs] == ["a", "b"] and len(inner.calls) == 1


def test_one_bad_prompt_fails_only_its_caller():
    inner = FailingLM(ScriptedLM(lambda prompt, i: prompt), fail_if=lambda p: p == "bad")
    lm = CoalescingBackend(inner, window_s=0.02)
    outs = gather(lm, [["ok1"], ["bad"], ["ok2"]])
    assert outs[0][0].completions[0].text == "ok1" and outs[2][0].completions[0].text == "ok2"
    assert isinstance(outs[1], BackendError)
    assert lm.stats["backend_calls"] == 1 + 3  # the merged try, then each caller alone


def test_bad_settings():
    with pytest.raises(ValueError):
        CoalescingBackend(ScriptedLM(["x"]), window_s=-1)
