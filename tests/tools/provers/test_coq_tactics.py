"""Coq tactic sessions (the search hook) on real coqidetop: goals, branching from earlier states after
Edit_at, errors that leave the session usable, forbidden sentences, setup errors, timeouts."""

from __future__ import annotations

import pytest

from lemmaflow.tools.provers import ProofTask
from lemmaflow.tools.provers.coq import CoqProver
from lemmaflow.tools.provers.coq_tactics import CoqTacticSetupError
from lemmaflow.tools.provers.lean_tactics import TacticSessionLost

TASK = ProofTask(name="t", statement="Theorem t : forall n : nat, n + 0 = n.", proof="")


@pytest.fixture(scope="module")
def coq():
    with CoqProver(pool_size=1, preload="", timeout_s=20.0) as prover:
        yield prover


def test_states_goals_and_branching(coq):
    with coq.tactic_session(TASK) as s:
        assert s.root.goals == ["⊢ forall n : nat, n + 0 = n"]
        a = s.run_tactic(s.root.proof_state, "intros n.")
        assert a.status == "open" and a.goals == ["n : nat\n⊢ n + 0 = n"]
        b = s.run_tactic(a.proof_state, "induction n.")
        assert b.status == "open" and len(b.goals) == 2 and "IHn : n + 0 = n" in b.goals[1]
        c = s.run_tactic(b.proof_state, "- reflexivity.")  # a bullet and a tactic: two sentences
        assert c.status == "open" and c.goals == ["n : nat\nIHn : n + 0 = n\n⊢ S n + 0 = S n"]
        # back to the root after deeper states, then forward again on the old branch (replayed)
        assert s.run_tactic(s.root.proof_state, "reflexivity.").status == "error"
        d = s.run_tactic(c.proof_state, "- simpl. rewrite IHn.")
        assert d.status == "open" and d.goals[-1].endswith("⊢ S n = S n")
        e = s.run_tactic(d.proof_state, "reflexivity.")
        assert e.status == "solved" and e.goals == []
        assert s.script(e.proof_state) == ("intros n.", "induction n.", "-", "reflexivity.", "-", "simpl.",
                                           "rewrite IHn.", "reflexivity.")
    proof = "Proof.\n" + "\n".join(s.script(e.proof_state)) + "\nQed."
    assert coq.check(TASK.model_copy(update={"proof": proof})).proved


def test_errors_leave_the_state_usable(coq):
    with coq.tactic_session(TASK) as s:
        a = s.run_tactic(s.root.proof_state, "intros n.")
        bad = s.run_tactic(a.proof_state, "apply foo.")
        assert bad.status == "error" and "foo was not found" in bad.error and bad.proof_state is None
        assert s.run_tactic(a.proof_state, "intros n").status == "error"  # no final period
        assert s.run_tactic(99, "intros n.").status == "error"
        ok = s.run_tactic(a.proof_state, "induction n.")
        assert ok.status == "open" and len(ok.goals) == 2


@pytest.mark.parametrize("tactic", ["admit.", "give_up.", "intros n. Admitted.", "Qed.", "Abort.",
                                    "Axiom cheat : False."])
def test_cheats_and_vernacular_are_errors(coq, tactic):
    with coq.tactic_session(TASK) as s:
        r = s.run_tactic(s.root.proof_state, tactic)
        assert r.status == "error" and "not allowed" in r.error


def test_a_statement_that_does_not_load_is_a_setup_error(coq):
    with pytest.raises(CoqTacticSetupError, match="foo was not found"):
        with coq.tactic_session(ProofTask(name="u", statement="Theorem u : foo = 1.", proof="")):
            pass


def test_a_hanging_tactic_times_out_and_the_session_is_lost(coq):
    with coq.tactic_session(TASK) as s:
        r = s.run_tactic(s.root.proof_state, "do 1000000000 (try reflexivity).", timeout_s=1.0)
        assert r.status == "timeout"
        with pytest.raises(TacticSessionLost):
            s.run_tactic(s.root.proof_state, "intros n.")
    with coq.tactic_session(TASK) as s:  # a new session works
        assert s.run_tactic(s.root.proof_state, "intros n.").status == "open"
