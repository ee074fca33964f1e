"""LeanServerProver (Kimina Lean Server client) against the shipped HTTP double on 127.0.0.1 (a real
server on a thread, whose REPLs are the REPL double: it proves nothing): the same verdicts as the REPL
pool, API key, 429 back-off, per-snippet and HTTP timeouts, a server that dies mid-batch, partial and
repeated answers, versions."""

from __future__ import annotations

import asyncio
import time

import pytest

from lemmaflow.tools.provers import ProofTask, Prover, ProverUnavailable
from lemmaflow.tools.provers.lean import LeanProver
from lemmaflow.tools.provers.lean_fake_server import Faults, FakeLeanServer, split_snippet
from lemmaflow.tools.provers.lean_repl import fake_repl_command
from lemmaflow.tools.provers.lean_server import LeanServerProver
from lemmaflow.tools.provers.minif2f_lean import load_minif2f_lean

FAST = dict(backoff_initial_s=0.02, backoff_max_s=0.2, timeout_s=5.0)


@pytest.fixture(scope="module")
def problems():
    return {p.name: p for p in load_minif2f_lean("all")}


@pytest.fixture
def server():
    with FakeLeanServer(api_key="secret") as s:
        yield s


@pytest.fixture
def prover(server):
    with LeanServerProver(url=server.url, api_key="secret", **FAST) as p:
        yield p


def _cases(problems):
    p = problems["mathd_algebra_182"]
    helper = "theorem helper (y : ℂ) : 7 * (3 * y + 2) = 21 * y + 14 := by\n  ring"
    return [
        p.task("  norm_num"),
        p.task("by norm_num"),
        p.task(p.statement + "  norm_num"),
        p.task("  norm_num\n  linarith"),  # an error on line 2 of the model's text
        p.task("  not_a_tactic"),
        p.task("  skip"),  # unsolved goals
        p.task("  sorry"),
        p.task("  admit"),
        p.task("  native_decide"),
        p.task("axiom cheat : False\n" + p.statement + "  exact cheat"),
        p.task("theorem mathd_algebra_182 : 1 = 1 := by\n  rfl"),  # the same name, another statement
        p.task("theorem other (y : ℂ) : 7 * (3 * y + 2) = 21 * y + 14 := by\n  norm_num"),  # never defines it
        p.task("  exact helper", context=(helper,)),
        p.task("  exact helper", context=(helper.replace("ring", "sorry"),)),
        p.task("  norm_num\nmacro \"norm_num\" : tactic => `(tactic| sorry)"),  # refused before running
        ProofTask(name="other", statement=p.statement, proof="  norm_num", header=p.header),  # plan error
        problems["amc12a_2015_p10"].task("  omega"),
    ]


def _view(r):
    return r.status, r.reason, r.axioms, [(m.severity, m.line, m.column, m.text) for m in r.messages]


def test_is_a_prover_with_the_same_verdicts_as_the_repl_pool(prover, problems):
    assert isinstance(prover, Prover) and prover.language == "lean4"
    cases = _cases(problems)
    with LeanProver(command=tuple(fake_repl_command()), pool_size=1, timeout_s=30.0) as pool:
        expected = [_view(pool.check(t)) for t in cases]
    got = [_view(r) for r in asyncio.run(prover.acheck_batch(cases))]
    assert got == expected
    assert [s for s, *_ in got].count("proved") == 5  # and the rest failed, for their own reasons
    assert len({reason for _, reason, *_ in got}) >= 9
    # one at a time through check() gives the same
    assert [_view(prover.check(t)) for t in cases[:4]] == expected[:4]


def test_batches_are_split_by_batch_size_and_keep_order(server, problems):
    p = problems["mathd_algebra_182"]
    tasks = [p.task("  norm_num" if i % 2 else "  sorry") for i in range(7)]
    with LeanServerProver(url=server.url, api_key="secret", batch_size=3, **FAST) as prover:
        results = prover.check_batch(tasks)
    assert [r.status for r in results] == ["failed", "proved"] * 3 + ["failed"]
    assert sorted(len(a) for a in server.asked) == [1, 3, 3]  # sent concurrently: any arrival order


def test_api_key_is_required_and_a_wrong_one_is_a_typed_error(server, problems):
    task = problems["mathd_algebra_182"].task("  norm_num")
    for key in (None, "wrong"):
        with LeanServerProver(url=server.url, api_key=key, **FAST) as prover:
            with pytest.raises(ProverUnavailable, match="refused the API key.*401"):
                prover.check(task)
            assert prover.requests == 1  # a refused key is not retried
    with LeanServerProver(url=server.url, api_key="secret", **FAST) as prover:
        assert prover.check(task).proved


def test_no_free_repl_429_is_retried_with_backoff(problems):
    task = problems["mathd_algebra_182"].task("  norm_num")
    with FakeLeanServer(faults=Faults(busy=3)) as server:
        with LeanServerProver(url=server.url, **{**FAST, "backoff_initial_s": 0.05}) as prover:
            t0 = time.monotonic()
            assert prover.check(task).proved
            assert time.monotonic() - t0 >= 0.05 + 0.1 + 0.2 - 0.02  # exponential waits between the 4 tries
        assert server.requests == 4 and prover.requests == 4


def test_429_past_the_attempts_gives_a_clear_per_item_error(problems):
    tasks = [problems["mathd_algebra_182"].task("  norm_num"), problems["amc12a_2015_p10"].task("  omega")]
    with FakeLeanServer(faults=Faults(busy=100)) as server:
        with LeanServerProver(url=server.url, max_attempts=3, **FAST) as prover:
            results = prover.check_batch(tasks)
        assert server.requests == 3
    assert [r.status for r in results] == ["crashed", "crashed"]
    assert all("after 3 attempts" in r.reason and "429" in r.reason for r in results)


def test_a_real_busy_server_answers_429_while_its_repls_are_taken(problems):
    task = problems["mathd_algebra_182"].task("  norm_num")
    # one REPL, held by a hanging snippet: the next request gets 429 until the hang times out
    with FakeLeanServer(max_repls=1, max_wait_s=0.2) as server:
        with LeanServerProver(url=server.url, max_attempts=30, **{**FAST, "timeout_s": 1.0}) as prover:
            assert prover.check(task).proved  # the one REPL is started and holds the header

            async def both():
                hang = asyncio.ensure_future(prover.acheck(task.model_copy(update={"proof": "  #fake_hang"})))
                while len(server.snippets_run) < 2 and not hang.done():  # the hang holds the only REPL
                    await asyncio.sleep(0.02)
                return await asyncio.gather(hang, prover.acheck(task))
            hung, ok = asyncio.run(asyncio.wait_for(both(), 60))
        assert hung.status == "timeout" and "timed out in 1.0 seconds" in hung.reason
        assert ok.proved and server.requests >= 4  # warm-up, hang, then the check was refused (429) at least once


def test_a_snippet_past_its_timeout_is_timeout_and_the_server_keeps_serving(prover, server, problems):
    p = problems["mathd_algebra_182"]
    assert prover.check(p.task("  norm_num")).proved  # a warm REPL: the header is not what times out
    r = prover.check(p.task("  #fake_hang", timeout_s=1.0))
    assert r.status == "timeout" and r.reason == "Lean REPL command timed out in 1.0 seconds"
    assert prover.check(p.task("  norm_num")).proved


def test_an_http_timeout_is_retried_then_reported_as_timeout(problems):
    task = problems["mathd_algebra_182"].task("  norm_num")
    with FakeLeanServer(faults=Faults(stall_on={2}, stall_s=3.0)) as server:
        with LeanServerProver(url=server.url, **FAST) as warm:
            assert warm.check(task).proved  # request 1 starts the REPL (slow on a loaded machine)
        with LeanServerProver(url=server.url, http_timeout_s=1.0, **FAST) as prover:
            assert prover.check(task).proved  # request 2 stalled past the HTTP timeout, request 3 answered
        assert server.requests == 3
    with FakeLeanServer(faults=Faults(stall_on={1, 2}, stall_s=3.0)) as server:
        with LeanServerProver(url=server.url, http_timeout_s=1.0, max_attempts=2, **FAST) as prover:
            r = prover.check(task)
    assert r.status == "timeout" and "ReadTimeout" in r.reason and "after 2 attempts" in r.reason


def test_a_server_that_dies_mid_batch_loses_and_duplicates_nothing(problems):
    p = problems["mathd_algebra_182"]
    proofs = ["  norm_num", "  sorry", "  skip", "  norm_num", "  native_decide", "  norm_num"]
    tasks = [p.task(x) for x in proofs]
    # the second request runs its snippets, then the server drops the connection without answering
    with FakeLeanServer(faults=Faults(die_on={2})) as server:
        with LeanServerProver(url=server.url, batch_size=3, max_concurrency=1, **FAST) as prover:
            results = prover.check_batch(tasks)
        assert server.requests == 3 and server.asked[1] == server.asked[2]  # the lost batch was sent again
    assert [r.status for r in results] == ["proved", "failed", "failed", "proved", "failed", "proved"]
    assert results[4].reason.startswith("trusts the compiler")
    # the server dies for good: every task ends with its own clear error
    with FakeLeanServer(faults=Faults(die_on=set(range(1, 100)))) as server:
        with LeanServerProver(url=server.url, batch_size=4, max_attempts=2, **FAST) as prover:
            results = prover.check_batch(tasks)
    assert len(results) == len(tasks)
    assert all(r.status == "crashed" and "after 2 attempts" in r.reason for r in results)


def test_missing_results_are_asked_again_alone_and_repeats_count_once(problems):
    p = problems["mathd_algebra_182"]
    tasks = [p.task("  norm_num"), p.task("  sorry"), p.task("  norm_num")]
    with FakeLeanServer(faults=Faults(duplicate=True)) as server:
        with LeanServerProver(url=server.url, **FAST) as prover:
            assert [r.status for r in prover.check_batch(tasks)] == ["proved", "failed", "proved"]
            assert server.requests == 1  # every result came twice: each counted once, nothing asked again
            server.faults.duplicate = False
            server.faults.lose_next = {1}  # the next answer leaves the middle snippet out
            results = prover.check_batch(tasks)
    assert [r.status for r in results] == ["proved", "failed", "proved"]
    assert results[1].reason == "uses sorry"
    assert len(server.asked[1]) == 3 and server.asked[2] == [server.asked[1][1]]  # only the missing one again


def test_a_dead_url_is_prover_unavailable():
    with FakeLeanServer() as server:
        url = server.url
    with pytest.raises(ProverUnavailable, match="no Kimina Lean Server"):
        LeanServerProver(url=url, **FAST).start()


def test_versions_come_from_the_server(server):
    with LeanServerProver(url=server.url, api_key="secret", mathlib="v4.19.0", **FAST) as prover:
        v = prover.versions()
    assert v == {"lean": "4.19.0-fake", "mathlib": "v4.19.0", "repl": "unknown",
                 "server": "Kimina Lean Server API 2.0.0+lemmaflow-double"}


def test_check_works_inside_a_running_event_loop(prover, problems):
    async def from_async_code():
        return prover.check(problems["mathd_algebra_182"].task("  norm_num"))
    assert asyncio.run(from_async_code()).proved


def test_split_snippet_matches_the_server():
    header, body, n = split_snippet("import Mathlib.Tactic\n\nimport Aesop\nimport Aesop\nopen Nat\ntheorem t := 1")
    assert (header, body, n) == ("import Mathlib\nimport Aesop", "open Nat\ntheorem t := 1", 4)
    assert split_snippet("theorem t := 1") == ("", "theorem t := 1", 0)


@pytest.mark.parametrize("name", ["lean_server", "lean_fake_server", "lean_versions", "lean_tactics", "lean_repl"])
def test_docstring_examples_run(name, capsys):
    import importlib
    import re
    import textwrap

    mod = importlib.import_module(f"lemmaflow.tools.provers.{name}")
    code = textwrap.dedent(re.split(r"Example[^\n]*::\n", mod.__doc__, maxsplit=1)[1])
    exec(compile(code, f"<{name} docstring>", "exec"), {})
    if name == "lean_server":
        assert capsys.readouterr().out.startswith("proved\n{'lean': '4.19.0-fake'")
