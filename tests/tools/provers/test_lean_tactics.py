"""Tactic sessions (the search hook) on the fake REPL: root state from the dataset statement,
open/solved/error steps, branching from old states, sorry never solves, timeout loses the session."""

from __future__ import annotations

import pytest

from lemmaflow.tools.provers import ProofTask
from lemmaflow.tools.provers.lean import LeanProver
from lemmaflow.tools.provers.lean_check import LeanPlanError
from lemmaflow.tools.provers.lean_repl import fake_repl_command
from lemmaflow.tools.provers.lean_tactics import TacticSessionLost

TASK = ProofTask(name="t", statement="theorem t (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n", proof="",
                 header="import Mathlib\n")


@pytest.fixture
def prover():
    with LeanProver(command=tuple(fake_repl_command()), pool_size=1, timeout_s=10.0) as p:
        yield p


def test_states_are_proof_states_and_actions_are_tactics(prover):
    with prover.tactic_session(TASK) as s:
        assert s.root.goals == ["p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q"]
        split = s.run_tactic(s.root.proof_state, "constructor")
        assert split.status == "open" and split.goals == ["case left\np q : Prop\nhp : p\nhq : q\n⊢ p", "case right\np q : Prop\nhp : p\nhq : q\n⊢ q"]
        one = s.run_tactic(split.proof_state, "exact_mod_cast hp")
        assert one.status == "error" and one.proof_state is None and one.error
        left = s.run_tactic(split.proof_state, "trivial")
        assert left.status == "open" and left.goals == ["case right\np q : Prop\nhp : p\nhq : q\n⊢ q"]
        done = s.run_tactic(left.proof_state, "trivial")
        assert done.status == "solved" and done.goals == [] and done.state.proof_state == done.proof_state
        # branching: an earlier state is still there
        again = s.run_tactic(s.root.proof_state, "constructor; trivial; trivial")
        assert again.status == "solved"


def test_sorry_never_solves_and_unknown_states_are_errors(prover):
    with prover.tactic_session(TASK) as s:
        cheat = s.run_tactic(s.root.proof_state, "sorry")
        assert cheat.status == "error" and cheat.error == "the tactic uses sorry"
        unknown = s.run_tactic(99_999, "trivial")
        assert unknown.status == "error" and "Unknown proof state" in unknown.error


def test_a_hanging_tactic_times_out_and_the_session_is_lost(prover):
    with prover.tactic_session(TASK) as s:
        r = s.run_tactic(s.root.proof_state, "#fake_hang", timeout_s=0.5)
        assert r.status == "timeout"
        with pytest.raises(TacticSessionLost):
            s.run_tactic(s.root.proof_state, "trivial")
    # the pool restarted the process: a new session works
    with prover.tactic_session(TASK) as s:
        assert s.run_tactic(s.root.proof_state, "constructor").status == "open"
    assert prover.restarts == 1


def test_a_statement_that_does_not_elaborate_is_a_plan_error(prover):
    bad = TASK.model_copy(update={"statement": "theorem t : True := by\n  garbage"})
    with pytest.raises(LeanPlanError):
        with prover.tactic_session(bad):
            pass


def test_no_goals_but_an_incomplete_proof_status_is_never_solved(prover):
    with prover.tactic_session(TASK) as s:
        split = s.run_tactic(s.root.proof_state, "constructor")
        assert split.proof_status == "Incomplete: open goals remain"
        # goals are empty after each of these, but the REPL's own check of the proof term fails
        mvar = s.run_tactic(split.proof_state, "exact ?_; exact hq")
        assert mvar.status == "error" and mvar.proof_state is None and mvar.goals == []
        assert mvar.proof_status == "Incomplete: contains metavariable(s)" and "metavariable" in mvar.error
        kernel = s.run_tactic(split.proof_state, "exact hp; fake_kernel_reject")
        assert kernel.status == "error" and kernel.proof_status.startswith("Error: kernel type check failed")
        done = s.run_tactic(split.proof_state, "exact hp; exact hq")
        assert done.status == "solved" and done.proof_status == "Completed"


def test_a_repl_without_proof_status_keeps_the_goals_rule():
    from lemmaflow.tools.provers.lean_repl import LeanRepl
    from lemmaflow.tools.provers.lean_tactics import TacticSession

    # REPL releases before proofStatus: empty goals without sorry is all the session can see
    with LeanRepl(fake_repl_command(), env_vars={"LEMMAFLOW_FAKE_REPL_LEGACY": "1"}) as repl:
        s = TacticSession.open(repl, repl.command("import Mathlib").env, TASK, 10.0)
        split = s.run_tactic(s.root.proof_state, "constructor")
        assert split.proof_status is None and split.status == "open"
        r = s.run_tactic(split.proof_state, "exact ?_; exact hq")
        assert r.status == "solved" and r.proof_status is None  # the search's final check decides
        cheat = s.run_tactic(split.proof_state, "sorry; exact hq")
        assert cheat.status == "error" and cheat.error == "the tactic uses sorry"
