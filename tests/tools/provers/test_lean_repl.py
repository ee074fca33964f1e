"""The Lean REPL client against the fake REPL (a protocol test double, not a Lean): framing, env reuse,
proof states, typed errors, crash, hang -> timeout with the process group killed, memory limit."""

from __future__ import annotations

import os
import time

import pytest

from lemmaflow.tools.provers import ProverUnavailable
from lemmaflow.tools.provers.lean_repl import (
    LeanRepl,
    ReplDead,
    ReplProtocolError,
    ReplRequestError,
    ReplTimeout,
    fake_repl_command,
    find_lean_repl,
)


@pytest.fixture
def repl():
    r = LeanRepl(fake_repl_command())
    r.start()
    yield r
    r.close()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_commands_reuse_environments_and_every_answer_is_a_new_env(repl):
    base = repl.command("import Mathlib\nopen Real")
    a = repl.command("def f := 37", env=base.env)
    b = repl.command("theorem t : 1 = 1 := rfl", env=a.env)
    assert len({base.env, a.env, b.env}) == 3 and not b.messages
    # the base environment is unchanged: a declaration of a later env is not in it
    again = repl.command("def f := 1", env=base.env)
    assert not again.errors
    dup = repl.command("def f := 1", env=a.env)
    assert dup.errors and "already been declared" in dup.errors[0].data
    assert dup.errors[0].pos.line == 1 and dup.errors[0].pos.column == 4


def test_errors_carry_positions_and_sorry_is_a_warning_with_a_proof_state(repl):
    env = repl.command("").env
    bad = repl.command("theorem t (x : Nat) : x = x := by\n  rfl\n  bogus_tactic", env=env)
    assert [m.severity for m in bad.messages] == ["error"]
    assert (bad.errors[0].pos.line, bad.errors[0].pos.column) == (3, 2)
    s = repl.command("theorem u : 2 = 2 := by\n  sorry", env=env)
    assert not s.errors and s.uses_sorry and s.messages[0].severity == "warning"
    assert s.sorries[0].goal == "⊢ 2 = 2" and s.sorries[0].proof_state is not None
    assert (s.sorries[0].pos.line, s.sorries[0].pos.column) == (2, 2)


def test_tactic_mode_on_proof_states(repl):
    env = repl.command("").env
    root = repl.command("theorem t (p q : Prop) : p ∧ q := by sorry", env=env).sorries[0].proof_state
    split = repl.tactic(root, "constructor")
    # goals as the REPL prints them: case tag, hypotheses, turnstile
    assert split.goals == ["case left\np q : Prop\n⊢ p", "case right\np q : Prop\n⊢ q"]
    assert split.proof_state != root and split.proof_status == "Incomplete: open goals remain"
    done = repl.tactic(repl.tactic(split.proof_state, "trivial").proof_state, "trivial")
    assert done.goals == [] and not done.errors and done.proof_status == "Completed" and done.completed
    # a tactic that fails: Lean's error recovery closes the goal, so goals are empty but the status says why
    failed = repl.tactic(root, "exact nonexistent")
    assert failed.errors and failed.goals == [] and failed.proof_status == "Incomplete: contains sorry"
    assert failed.errors[0].data == "Unknown identifier `nonexistent`" and failed.errors[0].pos.line == 0
    with pytest.raises(ReplRequestError, match="unknown tactic"):  # a tactic that does not parse
        repl.tactic(root, "nonsense")
    # the root state is still there after the steps: states are never mutated
    assert repl.tactic(root, "skip").goals == ["p q : Prop\n⊢ p ∧ q"]
    with pytest.raises(ReplRequestError, match="Unknown proof state"):
        repl.tactic(10_000, "rfl")
    with pytest.raises(ReplRequestError, match="Unknown environment"):
        repl.command("def g := 1", env=10_000)


def test_print_axioms_answers_an_info_message(repl):
    env = repl.command("axiom cheat : False\ntheorem t : 1 = 2 := by\n  exact cheat").env
    out = repl.command("#print axioms t", env=env)
    assert out.messages[0].severity == "info" and out.messages[0].data == "'t' depends on axioms: [cheat]"


def test_crash_is_repl_dead(repl):
    with pytest.raises(ReplDead):
        repl.command("#fake_crash")
    assert not repl.alive
    with pytest.raises(ReplDead):
        repl.command("def f := 1")


def test_hang_times_out_and_kills_the_process_group(repl):
    pid = repl.pid
    t0 = time.monotonic()
    with pytest.raises(ReplTimeout):
        repl.command("#fake_hang", timeout_s=0.5)
    assert time.monotonic() - t0 < 8  # not the 60 s default
    assert not repl.alive and _gone(pid)
    repl.start()  # a fresh process serves again
    assert repl.command("def f := 1").env == 0


def test_a_notice_line_before_the_answer_is_skipped(repl):
    assert repl.command("#fake_notice").env == 0 and repl.command("def f := 1").env == 1


def test_non_json_output_is_a_protocol_error(repl):
    with pytest.raises(ReplProtocolError):
        repl.command("#fake_garbage")
    assert not repl.alive


def test_memory_limit_is_set_on_the_process():
    r = LeanRepl(fake_repl_command(), memory_limit_bytes=3 << 30)
    r.start()
    try:
        limits = open(f"/proc/{r.pid}/limits").read()
        line = next(x for x in limits.splitlines() if x.startswith("Max address space"))
        assert str(3 << 30) in line
        assert r.command("def f := 1").env == 0
    finally:
        r.close()


def test_missing_repl_is_a_typed_error_with_a_setup_hint(monkeypatch):
    monkeypatch.delenv("LEMMAFLOW_LEAN_REPL", raising=False)
    with pytest.raises(ProverUnavailable, match="LEMMAFLOW_LEAN_REPL"):
        find_lean_repl()
    monkeypatch.setenv("LEMMAFLOW_LEAN_REPL", "lake env /opt/repl/bin/repl")
    monkeypatch.setenv("LEMMAFLOW_LEAN_CWD", "/opt/mathlib")
    assert find_lean_repl() == (["lake", "env", "/opt/repl/bin/repl"], "/opt/mathlib")
    with pytest.raises(ProverUnavailable, match="cannot start"):
        LeanRepl(["/nonexistent/lean-repl"]).start()
