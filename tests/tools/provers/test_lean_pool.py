"""The REPL pool on the fake REPL: header paid once per process, header affinity, header and request
limits restart a process, failures inside a session restart it in the background."""

from __future__ import annotations

import pytest

from lemmaflow.tools.provers import ProverError
from lemmaflow.tools.provers.lean_pool import HeaderError, LeanPool, LeanPoolConfig
from lemmaflow.tools.provers.lean_repl import ReplTimeout, fake_repl_command

FAKE = tuple(fake_repl_command())


def pool(**kw) -> LeanPool:
    return LeanPool(LeanPoolConfig(command=FAKE, **kw))


def test_the_header_runs_once_and_its_env_is_reused():
    with pool() as p:
        with p.session("import Mathlib\nopen Real") as (repl, env):
            repl.command("theorem t : 1 = 1 := rfl", env=env)
        with p.session("import Mathlib\nopen Real") as (repl2, env2):
            assert repl2 is repl and env2 == env
            # the header's env does not have what the previous session declared
            assert not repl2.command("theorem t : 1 = 1 := rfl", env=env2).errors
        assert repl.requests == 3 and p.restarts == 0


def test_a_process_that_has_the_header_is_preferred():
    with pool(pool_size=2) as p:
        with p.session("import A") as (first, _):
            pass
        with p.session("import B") as (other, _):
            assert other is not first  # the free list rotates: B goes to the other process
        with p.session("import A") as (again, _):
            assert again is first


def test_header_and_request_limits_restart_the_process():
    with pool(max_headers=2, max_requests=10) as p:
        pid = p.pids()[0]
        for h in ("import A", "import B"):
            with p.session(h):
                pass
        with p.session("import C") as (repl, _):  # a third header: restart, then C alone
            assert p.pids()[0] != pid and list(p._procs[0].headers) == ["import C"]
            for _ in range(10):
                repl.command("def f := 1", env=0)
        pid = p.pids()[0]
        with p.session("import C"):  # past max_requests: a fresh process
            assert p.pids()[0] != pid
        assert p.restarts == 2


def test_a_bad_header_is_a_typed_error_and_the_process_stays():
    with pool() as p:
        with pytest.raises(HeaderError) as e:
            with p.session("nonsense first\nimport Mathlib"):
                pass
        assert e.value.messages[0].line == 1
        pid = p.pids()[0]
        with p.session("import Mathlib"):
            assert p.pids()[0] == pid


def test_a_timeout_inside_a_session_restarts_the_process_with_its_headers():
    with pool() as p:
        with pytest.raises(ReplTimeout):
            with p.session("import Mathlib") as (repl, env):
                repl.command("#fake_hang", env=env, timeout_s=0.3)
        with p.session("import Mathlib") as (repl, env):  # waits for the background restart
            assert repl.alive and repl.requests == 1  # the restart reloaded the header; not run again here
        assert p.restarts == 1


def test_a_closed_pool_refuses_sessions():
    p = pool()
    p.start()
    p.close()
    with pytest.raises(ProverError, match="closed"):
        with p.session(""):
            pass
