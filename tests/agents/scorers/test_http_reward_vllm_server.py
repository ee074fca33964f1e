"""HTTPRewardModel against a real ``vllm`` server running the embedded SmolLM2 with the pooling runner.

The server is started the way a PRM is served (``--runner pooling``, STEP
pooling on the separator's token id), with SmolLM2's "No"/"Yes" LM-head rows as
its two-class head, as the in-process stand-in does. Scores are meaningless;
the tests check the wire format and that HTTP and in-process agree.
"""

import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from lemmaflow.agents.scorers import StepScoreRequest
from lemmaflow.agents.scorers.http_reward import HTTPRewardConfig, HTTPRewardModel
from lemmaflow.agents.scorers.prm_format import StepFormat
from lemmaflow.agents.scorers.vllm_reward import embedded_reward_config

pytestmark = pytest.mark.embedded

R = StepScoreRequest
REQS = [R(question="What is 2+2?", steps=("2+2=4.", "The answer is 4.")), R(question="What is 3*3?", steps=("3*3=9",))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    cfg = embedded_reward_config()
    sep_id = 5  # "<file_sep>" in SmolLM2's vocabulary; test_step_tag_id_is_the_separator checks it
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", cfg.model,
           "--served-model-name", "smolprm", "--host", "127.0.0.1", "--port", str(port),
           # as the in-process stand-in: fp32 and no prefix caching, so scores do not depend on
           # the batch or on an earlier identical call (see embedded_reward_config)
           "--dtype", cfg.dtype, "--no-enable-prefix-caching", "--enforce-eager", "--max-model-len", "1024",
           "--kv-cache-memory-bytes", str(256 << 20),
           "--runner", "pooling", "--convert", "classify", "--hf-overrides", json.dumps(cfg.hf_overrides),
           "--pooler-config", json.dumps({"task": "token_classify", "pooling_type": "STEP", "step_tag_id": sep_id})]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"vllm server exited: {proc.stderr.read().decode()[-3000:]}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            raise RuntimeError("vllm server did not become healthy in 240 s")
        yield url
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


def client(url, **kw) -> HTTPRewardModel:
    fmt = embedded_reward_config().model_dump(include=set(StepFormat.model_fields))
    return HTTPRewardModel(HTTPRewardConfig(**{"base_url": url, "model": "smolprm", **fmt, **kw}))


def score(model, reqs):
    async def go():
        try:
            return await model.score_steps(reqs)
        finally:
            await model.aclose()

    return asyncio.run(go())


def test_step_tag_id_is_the_separator(embedded_prm):
    assert embedded_prm._sep_id == 5


def test_chat_scores_one_probability_per_step_and_match_in_process(server, embedded_prm):
    outs = score(client(server), REQS)
    assert [len(o.steps) for o in outs] == [2, 1]
    assert all(math.isfinite(x) and 0 <= x <= 1 for o in outs for x in o.steps)
    assert score(client(server), REQS) == outs  # deterministic
    # The server renders the same chat template: same tokens, same scores as the in-process runner.
    local = asyncio.run(embedded_prm.score_steps(REQS))
    assert [o.prompt_tokens for o in outs] == [o.prompt_tokens for o in local]
    # Both run float32 without prefix caching (embedded_reward_config): the same kernels on the same
    # tokens, so the server matches the in-process runner to float32 rounding.
    for o, ref in zip(outs, local):
        assert o.steps == pytest.approx(ref.steps, abs=1e-5)


def test_plain_format_batches_through_one_request(server):
    outs = score(client(server, prompt_format="plain"), REQS + [R(question="q", steps=("a", "b", "c"))])
    assert [len(o.steps) for o in outs] == [2, 1, 3]
    assert all(o.prompt_tokens > 0 for o in outs)


def test_unknown_model_name_is_a_clear_error_without_retries(server):
    from lemmaflow.agents.scorers import ScorerError

    with pytest.raises(ScorerError, match="HTTP 404"):
        score(client(server, model="nope", max_attempts=2), REQS[:1])
