"""Several OpenAI-compatible servers behind one backend: least-loaded routing, health, failover, no loss."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from contextlib import ExitStack

import pytest

from lemmaflow.agents.backends import BackendError, ChatPrompt, OpenAIBackend, OpenAIConfig, SamplingParams
from lemmaflow.agents.backends.router import split_urls
from lemmaflow.tools.datasets import Problem

from .fleet_server import FleetServer
from .test_openai_client import CHAT_LP, COMPLETION_LP


def fleet_backend(servers, **kw):
    cfg = dict(base_url=[s.url for s in servers], model="m", backoff_initial_s=0.01, backoff_max_s=0.05,
               max_attempts=3, timeout_s=10.0, health_interval_s=0.05, health_timeout_s=0.5, cooldown_s=0.2)
    cfg.update(kw)
    return OpenAIBackend(OpenAIConfig(**cfg))


def fleet(*latencies):
    stack = ExitStack()
    servers = [stack.enter_context(FleetServer(lat, name=f"s{i}")) for i, lat in enumerate(latencies)]
    return stack, servers


def problems(k):
    return [Problem(id=f"p{i}", question=f"What is {i} + 4 - {i}?", gold="4", source="t") for i in range(k)]


def test_urls_are_split_and_normalised():
    assert split_urls("http://a/v1, http://b/v1/,http://a/v1") == ["http://a/v1", "http://b/v1"]
    assert split_urls(["http://a/v1", "http://b/v1,http://c/v1"]) == ["http://a/v1", "http://b/v1", "http://c/v1"]
    assert OpenAIConfig(model="m", base_url="http://a/v1,http://b/v1").urls == ["http://a/v1", "http://b/v1"]
    assert OpenAIConfig(model="m", base_url=["http://a/v1/"]).base_url == "http://a/v1"  # one server: a string
    with pytest.raises(ValueError):
        OpenAIConfig(model="m", base_url=" , ")


def test_least_loaded_endpoint_gets_the_requests():
    """A server holding a slow request gets no more while the other has none in flight."""
    stack, (slow, fast) = fleet(2.0, 0.0)
    with stack:
        b = fleet_backend([slow, fast])

        async def go():
            held = asyncio.ensure_future(b.generate(["first"], SamplingParams(max_tokens=4)))
            await asyncio.sleep(0.05)
            out = [await b.generate([f"q{i}"], SamplingParams(max_tokens=4)) for i in range(10)]
            mid = b.endpoint_stats()
            out.append(await held)
            stats = b.endpoint_stats()
            await b.aclose()
            return out, mid, stats

        out, mid, stats = asyncio.run(go())
    assert len(out) == 11 and all(g[0].completions[0].text for g in out)
    # Round robin would have sent 5 of the 10 to the busy server.
    assert slow.requests == 1 and fast.requests == 10
    assert [s["in_flight"] for s in mid] == [1, 0] and [s["requests"] for s in stats] == [1, 10]


def test_equal_servers_share_the_load():
    stack, servers = fleet(0.05, 0.05, 0.05)
    with stack:
        b = fleet_backend(servers)

        async def go():
            try:
                return await b.generate([f"q{i}" for i in range(30)], SamplingParams(max_tokens=4))
            finally:
                await b.aclose()

        asyncio.run(go())
    assert [s.requests for s in servers] == [10, 10, 10]


def test_replies_ledger_logprobs_and_stop_are_those_of_one_server():
    """The same server replies give the same Generations through one URL or through the router."""
    def respond(path, body):
        return json.loads(json.dumps(CHAT_LP if "chat" in path else COMPLETION_LP))

    stack = ExitStack()
    a = stack.enter_context(FleetServer(0.0, respond=respond))
    c = stack.enter_context(FleetServer(0.0, respond=respond))
    with stack:
        prompts = ["2+2=", ChatPrompt.user("Yes?")]
        params = SamplingParams(n=2, logprobs=1, stop=["\n"], include_stop_str_in_output=True)

        async def go(b):
            try:
                return await b.generate(prompts, params)
            finally:
                await b.aclose()

        one = asyncio.run(go(OpenAIBackend(OpenAIConfig(base_url=a.url, model="m"))))
        many = asyncio.run(go(fleet_backend([a, c])))
    assert [g.model_dump() for g in one] == [g.model_dump() for g in many]
    assert many[1].completions[0].logprobs[0].top == {"Yes": -0.5}


def test_client_errors_fail_at_once_as_with_one_server():
    stack, servers = fleet(0.0, 0.0)
    with stack:
        for s in servers:
            s.respond = lambda path, body: (400, {"error": "bad request"})
        b = fleet_backend(servers)

        async def go():
            try:
                return await b.generate(["q"], SamplingParams())
            finally:
                await b.aclose()

        with pytest.raises(BackendError, match="HTTP 400"):
            asyncio.run(go())
    assert sum(s.requests for s in servers) == 1  # not retried on the other server


def test_servers_that_drop_every_request_fail_the_item_after_bounded_attempts():
    stack, servers = fleet(0.0, 0.0)
    with stack:
        for s in servers:
            s.respond = lambda path, body: (_ for _ in ()).throw(ValueError("boom"))  # handler crash: no reply
        b = fleet_backend(servers, max_attempts=2)

        async def go():
            try:
                return await b.generate(["q"], SamplingParams())
            finally:
                await b.aclose()

        with pytest.raises(BackendError, match="failed after 3 attempts on 2 of 2 endpoints"):
            asyncio.run(go())


def test_health_checks_take_a_server_out_and_bring_it_back():
    stack, (a, b_) = fleet(0.0, 0.0)
    with stack:
        b = fleet_backend([a, b_])

        async def go():
            a.health_status = 503
            await b.generate(["warm"], SamplingParams())  # starts the probes
            await asyncio.sleep(0.4)
            assert [s["up"] for s in b.endpoint_stats()] == [False, True]
            before = a.requests
            await b.generate([f"q{i}" for i in range(10)], SamplingParams())
            assert a.requests == before  # out: it gets nothing
            a.health_status = 200
            await asyncio.sleep(0.3)
            assert [s["up"] for s in b.endpoint_stats()] == [True, True]
            await b.generate([f"r{i}" for i in range(10)], SamplingParams())
            await b.aclose()
            return before

        before = asyncio.run(go())
    assert a.requests >= before + 4  # back in the rotation


def test_a_reply_sent_before_the_server_was_marked_down_does_not_bring_it_back():
    """A probe answered by a server that crashed meanwhile is stale: only fresh evidence marks it up."""
    stack, (a, b_) = fleet(0.0, 0.0)
    with stack:
        b = fleet_backend([a, b_], health_interval_s=0)  # probes only when the test asks
        router = b._http
        a.health_delay_s = 0.3

        async def go():
            probe = asyncio.ensure_future(router.check_health())
            await asyncio.sleep(0.1)  # the probe to `a` is in flight
            router._mark_down(router.endpoints[0], "connection reset")  # as a failed request would
            assert await probe == [True, True]  # `a` did answer 200 ...
            stale = [s["up"] for s in b.endpoint_stats()]
            a.health_delay_s = 0.0
            await router.check_health()  # a probe sent after the mark-down is evidence
            fresh = [s["up"] for s in b.endpoint_stats()]
            await b.aclose()
            return stale, fresh

        stale, fresh = asyncio.run(go())
    assert stale == [False, True]  # ... but it was sent before the mark-down: `a` stays out
    assert fresh == [True, True]


def test_a_hung_server_loses_its_in_flight_requests_to_the_others():
    """Probes time out on a hung server: it is taken out and its requests go to the healthy one."""
    stack, (hung, ok) = fleet(30.0, 0.0)
    with stack:
        b = fleet_backend([hung, ok], health_timeout_s=0.1)
        hung.health_delay_s = 1.0

        async def go():
            t = time.monotonic()
            try:
                out = await b.generate([f"q{i}" for i in range(4)], SamplingParams())
            finally:
                await b.aclose()
            return out, time.monotonic() - t

        out, took = asyncio.run(go())
    assert len(out) == 4 and hung.requests >= 1 and hung.answered == 0 and ok.answered == 4
    assert took < 5  # not the hung server's 30 s


def _run_batch(backend, out, checker, probs, concurrency=8):
    from lemmaflow.agents.batch import BatchRunner
    from lemmaflow.cli import resolve_pipeline

    pipe = resolve_pipeline("sc", {"n": 2, "max_tokens": 16})

    async def go():
        try:
            return await BatchRunner(pipe, backend, checker, out_path=out, concurrency=concurrency).run(probs)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def _rows(path):
    return [json.loads(x) for x in open(path, encoding="utf-8").read().splitlines()]


def test_kill_one_mid_batch_every_problem_once_and_rejoin_after_restart(tmp_path, checker):
    stack, servers = fleet(0.03, 0.1, 0.03)
    victim = servers[1]  # the slowest: it always has requests in flight
    with stack:
        def chaos():
            while victim.requests < 10 or victim.in_flight == 0:
                time.sleep(0.002)
            victim.kill()  # with requests in flight
            killed.set()
            time.sleep(0.3)
            victim.start()  # same port
            restarted.append(victim.requests)

        killed, restarted = threading.Event(), []
        th = threading.Thread(target=chaos, daemon=True)
        th.start()
        b = fleet_backend(servers, max_attempts=2)
        s = _run_batch(b, tmp_path / "r.jsonl", checker, problems(150))
        th.join(5)
    assert killed.is_set() and restarted
    rows = _rows(tmp_path / "r.jsonl")
    assert sorted(r["id"] for r in rows) == sorted(f"p{i}" for i in range(150))  # each exactly once
    assert all(r["status"] == "ok" and r["correct"] for r in rows) and s.failed == 0
    assert victim.requests > victim.answered  # some requests were cut mid-flight (and retried elsewhere)
    assert victim.answered > 0 and victim.requests > restarted[0]  # it rejoined and served again


def test_all_servers_down_clear_errors_then_rerun_resumes(tmp_path, checker):
    stack, servers = fleet(0.02, 0.02)
    out = tmp_path / "r.jsonl"
    with stack:
        def chaos():
            while sum(s.answered for s in servers) < 10:
                time.sleep(0.005)
            for s in servers:
                s.kill()

        th = threading.Thread(target=chaos, daemon=True)
        th.start()
        s1 = _run_batch(fleet_backend(servers, max_attempts=2), out, checker, problems(40), concurrency=4)
        th.join(5)
        rows = _rows(out)
        assert sorted(r["id"] for r in rows) == sorted(f"p{i}" for i in range(40))  # every item has a row
        errors = [r for r in rows if r["status"] == "error"]
        assert errors and s1.failed == len(errors)
        assert all("endpoints (2 down)" in r["error"] for r in errors)
        for srv in servers:
            srv.start()
        s2 = _run_batch(fleet_backend(servers), out, checker, problems(40), concurrency=4)
    assert s2.skipped == 40 - len(errors) and s2.done == len(errors) and s2.failed == 0
    from lemmaflow.agents.batch import load_results

    final = load_results(out)
    assert len(final) == 40 and all(r["status"] == "ok" for r in final.values())


def test_lemmaflow_solve_over_a_fleet_with_a_server_killed_mid_run(tmp_path):
    """The real CLI, two --base-url flags and a comma list: one server dies mid-run, nothing is lost."""
    stack, servers = fleet(0.05, 0.05, 0.05)
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": f"p{i}", "question": f"What is {i} + 4 - {i}?", "answer": "4"}) + "\n"
                           for i in range(60)))
    out = tmp_path / "out.jsonl"
    with stack:
        def chaos():
            while servers[0].requests < 5:
                time.sleep(0.005)
            servers[0].kill()

        th = threading.Thread(target=chaos, daemon=True)
        th.start()
        cmd = [sys.executable, "-m", "lemmaflow.cli", "solve", "--backend", "openai", "--model", "m",
               "--base-url", servers[0].url, "--base-url", f"{servers[1].url},{servers[2].url}",
               "--pipeline", "sc", "--n", "2", "--max-tokens", "16", "--concurrency", "6",
               "--input", str(inp), "--out", str(out), "--no-progress"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
        th.join(5)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = _rows(out)
    assert sorted(r["id"] for r in rows) == sorted(f"p{i}" for i in range(60))
    assert all(r["status"] == "ok" for r in rows)
    assert not servers[0].alive and servers[0].requests >= 5
    assert servers[1].answered > 0 and servers[2].answered > 0


def test_roles_take_a_fleet_from_models_section_and_model_for():
    """``models:`` lists and ``--model-for ROLE=openai:M@URL1,URL2`` build a routed backend for the role."""
    from lemmaflow.agents.backends.factory import ModelSpec, make_model, parse_model_arg

    role, spec = parse_model_arg("verifier=openai:m@http://127.0.0.1:1/v1, http://127.0.0.1:2/v1")
    assert role == "verifier" and spec.base_url == ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"]
    assert parse_model_arg("v=openai:m@http://127.0.0.1:1/v1")[1].base_url == "http://127.0.0.1:1/v1"
    from_yaml = ModelSpec.model_validate({"kind": "openai", "model": "m", "options": {"cooldown_s": 1},
                                         "base_url": ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"]})
    stack, servers = fleet(0.0, 0.0)
    with stack:
        for s in (spec, from_yaml):
            b = make_model(s.model_copy(update={"base_url": [x.url for x in servers]}))
            assert [e["url"] for e in b.endpoint_stats()] == [x.url for x in servers]

            async def go():
                try:
                    return await b.generate(["a", "b"], SamplingParams())
                finally:
                    await b.aclose()

            assert len(asyncio.run(go())) == 2
    assert [x.requests for x in servers] == [2, 2]
    assert b.config.cooldown_s == 1  # the spec's options reach the router


def test_a_saturated_server_stays_healthy():
    """Probes do not queue behind a server's requests: busy (all connections in use) is not down."""
    stack, servers = fleet(0.6, 0.6)
    with stack:
        b = fleet_backend(servers, max_concurrency=2, health_timeout_s=0.1, health_failures=1)

        async def go():
            try:
                return await b.generate([f"q{i}" for i in range(8)], SamplingParams())
            finally:
                go.stats = b.endpoint_stats()
                await b.aclose()

        out = asyncio.run(go())
    assert len(out) == 8 and all(s["up"] and s["failures"] == 0 for s in go.stats)
    assert [s.requests for s in servers] == [4, 4]
