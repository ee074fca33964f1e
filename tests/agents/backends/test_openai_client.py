"""OpenAI-compatible client against a local server that fails on purpose."""

import asyncio
import socket

import pytest

from lemmaflow.agents.backends import BackendError, ChatPrompt, OpenAIBackend, OpenAIConfig, SamplingParams

from .flaky_server import Script, serve


def backend(url, **kw):
    cfg = dict(base_url=url, model="m", backoff_initial_s=0.01, backoff_max_s=0.05, max_attempts=4, timeout_s=1.0)
    cfg.update(kw)
    return OpenAIBackend(OpenAIConfig(**cfg))


def gen(b, prompts, **params):
    async def go():
        try:
            return await b.generate(prompts, SamplingParams(**params))
        finally:
            await b.aclose()

    return asyncio.run(go())


def test_completion_and_chat_requests():
    script = Script([])
    with serve(script) as url:
        out = gen(backend(url), ["2+2=", ChatPrompt.user("2+2?", system="be brief")], n=3, max_tokens=9, stop=["\n"])
    assert [len(g.completions) for g in out] == [3, 3]
    assert out[0].completions[0].text == "The answer is \\boxed{4}."
    assert out[0].prompt_tokens == 11 and out[0].completion_tokens == 21
    paths = sorted(r["path"] for r in script.requests)
    assert paths == ["/v1/chat/completions", "/v1/completions"]
    chat = next(r["body"] for r in script.requests if r["path"].endswith("chat/completions"))
    assert chat["messages"][0] == {"role": "system", "content": "be brief"}
    assert chat["n"] == 3 and chat["max_tokens"] == 9 and chat["stop"] == ["\n"]


def test_continues_a_partial_assistant_message():
    script = Script([])
    with serve(script) as url:
        gen(backend(url), [ChatPrompt.user("q").continued("Step 1:")])
    body = script.requests[0]["body"]
    assert body["messages"][-1] == {"role": "assistant", "content": "Step 1:"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False


@pytest.mark.parametrize("failures", [[500], [502, 503], [429, 429, 500]])
def test_retries_5xx_and_429_then_succeeds(failures):
    script = Script(failures)
    with serve(script) as url:
        out = gen(backend(url), ["p"])
    assert out[0].completions[0].text.startswith("The answer")
    assert len(script.requests) == len(failures) + 1


def test_timeout_is_retried():
    script = Script(["hang"], hang_s=2.0)
    with serve(script) as url:
        out = gen(backend(url, timeout_s=0.3), ["p"])
    assert len(out[0].completions) == 1 and len(script.requests) == 2


def test_gives_up_with_a_clear_error():
    script = Script([], default=500)
    with serve(script) as url:
        with pytest.raises(BackendError, match="failed after 4 attempts"):
            gen(backend(url), ["p"])
    assert len(script.requests) == 4


def test_client_errors_are_not_retried():
    script = Script([400])
    with serve(script) as url:
        with pytest.raises(BackendError, match="HTTP 400"):
            gen(backend(url), ["p"])
    assert len(script.requests) == 1


def test_malformed_response_is_a_clear_error():
    with serve(Script(["garbage"])) as url:
        with pytest.raises(BackendError, match="non-JSON"):
            gen(backend(url), ["p"])


def test_dead_server_is_a_clear_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(BackendError, match="ConnectError"):
        gen(backend(f"http://127.0.0.1:{port}/v1", max_attempts=2), ["p"])


def test_concurrency_limit_is_respected():
    script = Script([], hang_s=0.2, default="hang")
    with serve(script) as url:
        b = backend(url, max_concurrency=2, timeout_s=5)
        import time

        t = time.monotonic()
        gen(b, ["a", "b", "c", "d"])
        elapsed = time.monotonic() - t
    assert len(script.requests) == 4
    assert elapsed >= 0.38  # 4 requests of 0.2 s, 2 at a time: at least two waves


def test_batch_goes_on_when_one_item_fails_for_good(tmp_path, checker):
    """Through the batch runner: one problem's requests always 500, the rest succeed."""
    from lemmaflow.agents.batch import BatchRunner, load_results
    from lemmaflow.cli import resolve_pipeline
    from lemmaflow.tools.datasets import Problem

    script = Script([500, 500, 500, 500])  # the first request's 4 attempts fail
    with serve(script) as url:
        b = backend(url, max_concurrency=1)
        pipe = resolve_pipeline("sc", {"n": 2, "max_tokens": 16})
        probs = [Problem(id=f"p{i}", question=f"q{i}", gold="4", source="t") for i in range(3)]

        async def go():
            try:
                return await BatchRunner(pipe, b, checker, out_path=tmp_path / "r.jsonl", concurrency=1).run(probs)
            finally:
                await b.aclose()

        s = asyncio.run(go())
    assert s.done == 3 and s.failed == 1 and s.correct == 2
    rows = load_results(tmp_path / "r.jsonl").values()
    assert sorted(r["status"] for r in rows) == ["error", "ok", "ok"]
    assert "failed after 4 attempts" in next(r["error"] for r in rows if r["status"] == "error")


# -- log-probabilities: request bodies and both APIs' response shapes (httpx.MockTransport) --


def _mock(reply):
    import json as _json

    import httpx

    seen = []

    def handler(request):
        seen.append((request.url.path, _json.loads(request.content)))
        return httpx.Response(200, json=reply(request.url.path))

    return httpx.MockTransport(handler), seen


COMPLETION_LP = {
    "choices": [{"index": 0, "text": " 4.", "finish_reason": "stop",
                 "logprobs": {"tokens": [" 4", "."], "token_logprobs": [-0.25, -0.5],
                              "top_logprobs": [{" 4": -0.25, " 5": -2.0}, {".": -0.5, "!": -1.5}]}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2},
}
CHAT_LP = {
    "choices": [
        {"index": 1, "message": {"role": "assistant", "content": "No"}, "finish_reason": "stop",
         "logprobs": {"content": [{"token": "No", "logprob": -1.0, "top_logprobs": [
             {"token": "No", "logprob": -1.0}, {"token": "Yes", "logprob": -0.5}]}]}},
        {"index": 0, "message": {"role": "assistant", "content": "Yes sir"}, "finish_reason": "length",
         "logprobs": {"content": [
             {"token": "Yes", "logprob": -0.5, "top_logprobs": [{"token": "Yes", "logprob": -0.5}]},
             {"token": " sir", "logprob": -3.0, "top_logprobs": [{"token": " sir", "logprob": -3.0}]}]}},
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 7},  # deliberately not 3: per-token entries win
}


def gen_mock(reply, prompts, **params):
    transport, seen = _mock(reply)
    b = OpenAIBackend(OpenAIConfig(base_url="http://mock/v1", model="m"), transport=transport)
    return gen(b, prompts, **params), seen


def test_completions_logprobs_request_and_parse():
    [g], seen = gen_mock(lambda p: COMPLETION_LP, ["2+2="], logprobs=2)
    assert seen[0][0] == "/v1/completions" and seen[0][1]["logprobs"] == 2 and "top_logprobs" not in seen[0][1]
    c = g.completions[0]
    assert [(t.token, t.logprob) for t in c.logprobs] == [(" 4", -0.25), (".", -0.5)]
    assert c.logprobs[0].top == {" 4": -0.25, " 5": -2.0} and c.cumulative_logprob == -0.75
    assert c.completion_tokens == 2 and c.mean_logprob == -0.375


def test_chat_logprobs_request_and_parse_in_choice_order():
    [g], seen = gen_mock(lambda p: CHAT_LP, [ChatPrompt.user("Yes?")], n=2, logprobs=1)
    assert seen[0][0] == "/v1/chat/completions"
    assert seen[0][1]["logprobs"] is True and seen[0][1]["top_logprobs"] == 1
    first, second = g.completions
    assert first.text == "Yes sir" and [t.token for t in first.logprobs] == ["Yes", " sir"]
    assert first.cumulative_logprob == -3.5 and second.logprobs[0].top == {"No": -1.0, "Yes": -0.5}
    assert [c.completion_tokens for c in g.completions] == [2, 1]  # exact, from the per-token entries


def test_logprobs_zero_keeps_no_alternatives_and_none_asks_for_nothing():
    [g], seen = gen_mock(lambda p: CHAT_LP, [ChatPrompt.user("Yes?")], logprobs=0)
    assert seen[0][1]["top_logprobs"] == 0
    assert all(t.top is None for c in g.completions for t in c.logprobs)
    plain = {"choices": [{"index": 0, "text": "4", "finish_reason": "stop"}], "usage": {"completion_tokens": 1}}
    [g], seen = gen_mock(lambda p: plain, ["2+2="])
    assert "logprobs" not in seen[0][1] and g.completions[0].logprobs is None
    assert g.completions[0].cumulative_logprob is None and g.completions[0].mean_logprob is None


@pytest.mark.parametrize("bad", [
    {"tokens": [" 4"]},  # token_logprobs missing
    {"tokens": [" 4"], "token_logprobs": ["high"]},
])
def test_malformed_logprobs_are_a_clear_error(bad):
    reply = {"choices": [{"index": 0, "text": " 4", "logprobs": bad}], "usage": {}}
    with pytest.raises(BackendError, match="malformed completion response"):
        gen_mock(lambda p: reply, ["2+2="], logprobs=0)
