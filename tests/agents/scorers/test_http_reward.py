"""HTTPRewardModel against a local server speaking vLLM's /pooling JSON, failing on purpose.

The request/response shapes match vLLM's pooling API (checked against a real
``vllm serve --runner pooling`` in test_http_reward_vllm_server.py); here the
server is ours so the retry policy and error paths can be scripted.
"""

import asyncio
import socket

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.backends.factory import ModelSpec, make_model
from lemmaflow.agents.scorers import ScorerError, StepScoreRequest, build_scorer
from lemmaflow.agents.scorers.http_reward import HTTPRewardConfig, HTTPRewardModel

from ..backends.flaky_server import Script, serve

SEP = "<sep>"


def _score(step: str) -> float:
    return round(1 / (1 + len(step)), 6)  # deterministic, differs per step


def pooling_reply(path: str, body: dict) -> dict:
    """What vLLM's /pooling returns for STEP pooling: per input, one [p_neg, p_pos] row per separator."""
    if "messages" in body:
        texts = [body["messages"][-1]["content"]]
    else:
        texts = body["input"]
    data = []
    for i, text in enumerate(texts):
        steps = text.split(SEP)[:-1] if "messages" in body else text.split("\n", 1)[1].split(SEP)[:-1]
        data.append({"index": i, "object": "pooling", "data": [[1 - _score(s), _score(s)] for s in steps]})
    return {"object": "list", "model": body["model"], "data": data[::-1],  # any order: sorted by index
            "usage": {"prompt_tokens": 10 * len(texts), "total_tokens": 10 * len(texts)}}


def prm(url, **kw):
    cfg = dict(base_url=url, model="prm-m", step_separator=SEP, backoff_initial_s=0.01, backoff_max_s=0.05,
               max_attempts=3, timeout_s=1.0)
    cfg.update(kw)
    return HTTPRewardModel(HTTPRewardConfig(**cfg))


def score(model, reqs):
    async def go():
        try:
            return await model.score_steps(reqs)
        finally:
            await model.aclose()

    return asyncio.run(go())


REQS = [StepScoreRequest(question="2+2?", steps=("2+2=4", "so the answer is 4")),
        StepScoreRequest(question="3*3?", steps=("9",))]


def test_chat_requests_one_per_pair_and_positive_class_scores():
    script = Script([], respond=pooling_reply)
    with serve(script) as url:
        outs = score(prm(url.removesuffix("/v1")), REQS)
    assert [o.steps for o in outs] == [[_score("2+2=4"), _score("so the answer is 4")], [_score("9")]]
    assert [o.prompt_tokens for o in outs] == [10, 10]
    assert sorted(r["path"] for r in script.requests) == ["/pooling", "/pooling"]
    body = next(r["body"] for r in script.requests if r["body"]["messages"][1]["content"] == "2+2?")
    assert body["model"] == "prm-m" and body["task"] == "token_classify" and body["add_generation_prompt"] is False
    assert body["messages"][0]["role"] == "system"
    assert body["messages"][2] == {"role": "assistant", "content": "2+2=4<sep>so the answer is 4<sep>"}


def test_plain_format_batches_every_pair_in_one_request():
    script = Script([], respond=pooling_reply)
    with serve(script) as url:
        outs = score(prm(url, prompt_format="plain", path="/pool"), REQS)
    assert len(script.requests) == 1 and script.requests[0]["path"] == "/v1/pool"
    assert script.requests[0]["body"]["input"] == ["2+2?\n2+2=4<sep>so the answer is 4<sep>", "3*3?\n9<sep>"]
    assert outs[1].steps == [_score("9")]
    assert sum(o.prompt_tokens for o in outs) == 20  # usage of the reply, spread over the inputs


def test_separator_inside_a_step_does_not_shift_the_scores():
    script = Script([], respond=pooling_reply)
    with serve(script) as url:
        [out] = score(prm(url), [StepScoreRequest(question="q", steps=("a<sep>b", "c"))])
    assert len(out.steps) == 2
    assert script.requests[0]["body"]["messages"][-1]["content"] == "a b<sep>c<sep>"


def test_pairs_without_steps_need_no_request():
    script = Script([], respond=pooling_reply)
    with serve(script) as url:
        outs = score(prm(url), [StepScoreRequest(question="q", steps=()), REQS[1]])
    assert outs[0].steps == [] and outs[1].steps == [_score("9")] and len(script.requests) == 1


@pytest.mark.parametrize("failures", [[500], [503, 429]])
def test_retries_5xx_and_429_then_succeeds(failures):
    script = Script(failures, respond=pooling_reply)
    with serve(script) as url:
        [out] = score(prm(url), [REQS[1]])
    assert out.steps == [_score("9")] and len(script.requests) == len(failures) + 1


def test_timeout_is_retried():
    script = Script(["hang"], hang_s=2.0, respond=pooling_reply)
    with serve(script) as url:
        [out] = score(prm(url, timeout_s=0.3), [REQS[1]])
    assert len(out.steps) == 1 and len(script.requests) == 2


def test_gives_up_with_a_clear_error():
    script = Script([], default=500)
    with serve(script) as url:
        with pytest.raises(ScorerError, match="/pooling failed after 3 attempts"):
            score(prm(url), [REQS[1]])
    assert len(script.requests) == 3


def test_client_errors_are_not_retried():
    script = Script([400])
    with serve(script) as url:
        with pytest.raises(ScorerError, match="HTTP 400"):
            score(prm(url), [REQS[1]])
    assert len(script.requests) == 1


def test_non_json_and_malformed_replies_are_clear_errors():
    with serve(Script(["garbage"])) as url:
        with pytest.raises(ScorerError, match="non-JSON"):
            score(prm(url), [REQS[1]])
    with serve(Script([], respond=lambda p, b: {"choices": []})) as url:
        with pytest.raises(ScorerError, match="malformed pooling response"):
            score(prm(url), [REQS[1]])


def test_wrong_number_of_separator_rows_is_a_clear_error():
    def one_row_short(path, body):
        reply = pooling_reply(path, body)
        reply["data"][0]["data"].pop()
        return reply

    with serve(Script([], respond=one_row_short)) as url:
        with pytest.raises(ScorerError, match="1 separator outputs for 2 steps.*step_tag_id"):
            score(prm(url), [REQS[0]])


def test_positive_label_beyond_the_head_is_a_clear_error():
    with serve(Script([], respond=pooling_reply)) as url:
        with pytest.raises(ScorerError, match="positive_label=2 but the head has 2 classes"):
            score(prm(url, positive_label=2), [REQS[1]])


def test_dead_server_is_a_clear_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ScorerError, match="ConnectError"):
        score(prm(f"http://127.0.0.1:{port}", max_attempts=2), [REQS[1]])


def test_from_spec_and_the_reward_model_scorer_record_usage_under_the_role():
    script = Script([], respond=pooling_reply)
    with serve(script) as url:
        spec = ModelSpec(kind="http_reward", model="prm-m", base_url=url, api_key="k",
                         options={"step_separator": SEP, "max_attempts": 2})
        model = make_model(spec)
        assert isinstance(model, HTTPRewardModel) and model.config.max_attempts == 2
        ctx = RunContext(backend=ScriptedLM(["x"]), models={"prm": model})
        scorer = build_scorer({"type": "reward_model", "model": "prm", "aggregate": "min"})

        async def go():
            try:
                return await scorer.score(ctx, REQS)
            finally:
                await model.aclose()

        a, b = asyncio.run(go())
    assert a.value == min(_score("2+2=4"), _score("so the answer is 4")) and b.value == _score("9")
    assert ctx.ledger.per_model["prm"].prompt_tokens == 20 and ctx.ledger.per_model["prm"].llm_calls == 1
    assert "generator" not in ctx.ledger.per_model
    [ev] = [e for e in ctx.trace.events if e.kind == "model_call"]
    assert ev.data["model"] == "prm" and ev.data["n_requests"] == 2
