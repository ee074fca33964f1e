"""TacticProblem with a scripted model proposing real Coq tactics, real Coq running and re-checking them;
the Lean path against the fake REPL."""

from __future__ import annotations

import asyncio

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.search import MCTS, BeamSearch, BestFirst, ProofState, TacticConfig, TacticProblem
from lemmaflow.agents.search.proof_tactics import parse_tactic, proof_text
from lemmaflow.tools.provers import ProofResult, ProofTask
from lemmaflow.tools.provers.coq import CoqProver

ADD_ZERO = ProofTask(name="add_zero", statement="Theorem add_zero : forall n : nat, n + 0 = n.", proof="")
AND_SWAP = ProofTask(name="and_swap", statement="Theorem and_swap : forall P Q : Prop, P /\\ Q -> Q /\\ P.", proof="")
CANDIDATES = ["intros n.", "apply foo.", "induction n.", "simpl.", "rewrite IHn.", "reflexivity."]


def cycling(candidates):
    """Completion i of every prompt is candidates[i % len] (width = len(candidates) tries them all)."""
    return ScriptedLM(lambda prompt, i: candidates[i % len(candidates)])


@pytest.fixture(scope="module")
def coq():
    with CoqProver(pool_size=1, preload="", timeout_s=20.0) as prover:
        yield prover


def run(algo, problem, lm):
    return asyncio.run(algo.search(problem, RunContext(backend=lm)))


def test_beam_search_finds_the_proof_prunes_wrong_tactics_and_rechecks_it(coq):
    lm = cycling(CANDIDATES)
    with coq.tactic_session(ADD_ZERO) as session:
        problem = TacticProblem(ADD_ZERO, session, coq, {"temperature": 0.0})
        res = run(BeamSearch(beam_size=2, width=len(CANDIDATES), solutions=1), problem, lm)
    proof = res.best.answer
    assert proof is not None and proof.startswith("Proof.\n") and proof.endswith("Qed.")
    assert "induction n." in proof and "rewrite IHn." in proof and "apply foo." not in proof
    # the search's own re-check, and an independent one
    assert problem.checked and problem.checked[-1].proved
    assert coq.check(ADD_ZERO.model_copy(update={"proof": proof})).proved
    # wrong tactics were tried and pruned: error nodes, none on the chosen path
    errors = [n for n in res.tree if n.state.status == "error"]
    assert any(n.text == "apply foo." and "foo was not found" in n.state.error for n in errors)
    assert any("no progress" in (n.state.error or "") for n in errors)  # simpl. on the root changes nothing
    assert not any(res.tree[i].state.status == "error" for i in res.chosen)
    assert all(n.score == 0.0 for n in errors)
    # one batched generate per round, with every kept beam in it
    assert len(lm.calls) == res.rounds and [len(p) for p, _ in lm.calls][0] == 1
    assert max(len(p) for p, _ in lm.calls) == 2


def test_prompts_show_statement_goals_and_tactics_so_far(coq):
    lm = cycling(CANDIDATES)
    with coq.tactic_session(ADD_ZERO) as session:
        problem = TacticProblem(ADD_ZERO, session, coq)
        run(BestFirst(width=len(CANDIDATES), expansions=2), problem, lm)
    second = lm.calls[1][0][0]
    assert "forall n : nat, n + 0 = n" in second and "- intros n." in second and "n : nat\n⊢ n + 0 = n" in second
    assert lm.calls[0][1].n == len(CANDIDATES)


def test_best_first_and_mcts_prove_a_propositional_statement(coq):
    tactics = ["intros P Q H.", "destruct H as [HP HQ].", "split.", "exact HQ.", "exact HP.", "apply H."]
    for algo in (BestFirst(width=len(tactics)), MCTS(simulations=12, width=len(tactics))):
        with coq.tactic_session(AND_SWAP) as session:
            problem = TacticProblem(AND_SWAP, session, coq)
            res = run(algo, problem, cycling(tactics))
        assert res.best.answer is not None, algo.name
        assert coq.check(AND_SWAP.model_copy(update={"proof": res.best.answer})).proved


class Rejecting:
    """A prover whose statement-exact check rejects everything (the session is real Coq)."""

    language = "coq"

    def __init__(self):
        self.calls = 0

    def check(self, task):
        self.calls += 1
        return ProofResult(status="failed", reason="the statement was changed")


def test_a_proof_the_final_check_rejects_never_counts(coq):
    rejecting = Rejecting()
    with coq.tactic_session(ADD_ZERO) as session:
        problem = TacticProblem(ADD_ZERO, session, rejecting)
        res = run(BestFirst(width=len(CANDIDATES), expansions=10), problem, cycling(CANDIDATES))
    assert rejecting.calls >= 1
    assert all(leaf.answer is None for leaf in res.leaves)
    rejected = [n for n in res.tree if "rejected by the final check" in (n.state.error or "")]
    assert rejected and all(n.state.status == "error" and n.score == 0.0 for n in rejected)


def test_budget_exhausted_gives_a_failed_search_with_its_tree(coq):
    with coq.tactic_session(ADD_ZERO) as session:
        problem = TacticProblem(ADD_ZERO, session, coq)
        res = run(BestFirst(width=len(CANDIDATES), token_budget=4), problem, cycling(CANDIDATES))
    assert res.budget_limited and res.rounds == 1
    assert res.best is None or res.best.answer is None
    assert len(res.tree) == 1 + len(CANDIDATES)  # the root and its one round of children
    assert not res.best.finished and res.tree[res.best.node].state.status == "open"
    assert not problem.checked


def test_value_fn_hook_values_open_states(coq):
    seen = []

    def value(statement, state):
        seen.append((statement, state))
        return 0.3

    with coq.tactic_session(ADD_ZERO) as session:
        problem = TacticProblem(ADD_ZERO, session, coq, value_fn=value)
        values = asyncio.run(problem.evaluate(None, [problem.initial_state(),
                                                     ProofState(None, (), ("x.",), "error", "bad")]))
    assert values == [0.3, 0.0] and seen[0][0] == ADD_ZERO.statement and seen[0][1].goals


def test_lean_path_against_the_fake_repl():
    from lemmaflow.tools.provers.lean import LeanProver
    from lemmaflow.tools.provers.lean_repl import fake_repl_command

    task = ProofTask(name="t", statement="theorem t (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n", proof="",
                     header="import Mathlib\n")
    first, later = ["exact_mod_cast hp", "constructor", "sorry"], ["sorry", "norm_num", "skip"]

    def script(prompt, i):  # the fake REPL's closers close any goal, so offer none at the root
        options = first if "Tactics so far:\n(none)" in prompt else later
        return options[i % 3]
    with LeanProver(command=tuple(fake_repl_command()), pool_size=1, timeout_s=10.0) as single:
        with single.tactic_session(task) as session, pytest.raises(ValueError, match="pool_size >= 2"):
            TacticProblem(task, session, single)  # the final check would wait for the session's process
    with LeanProver(command=tuple(fake_repl_command()), pool_size=2, timeout_s=10.0) as prover:
        with prover.tactic_session(task) as session:
            problem = TacticProblem(task, session, prover)
            res = run(BeamSearch(beam_size=2, width=3, solutions=1), problem, ScriptedLM(script))
        assert res.best.answer == "  constructor\n  norm_num\n  norm_num"
        assert problem.checked[-1].proved
        assert prover.check(task.model_copy(update={"proof": res.best.answer})).proved
    sorry = [n for n in res.tree if n.text == "sorry"]
    assert sorry and all(n.state.status == "error" for n in sorry)  # a sorry never solves
    assert any(n.text == "exact_mod_cast hp" and n.state.status == "error" for n in res.tree)
    assert any(n.text == "skip" and "no progress" in n.state.error for n in res.tree)


def test_parsing_and_proof_text():
    assert parse_tactic("```coq\nintros n\n```", "coq") == "intros n."
    assert parse_tactic("\n  simp [h]\nmore", "lean4") == "simp [h]"
    assert parse_tactic("  \n", "coq") == ""
    assert proof_text("coq", ["intros n.", "lia."]) == "Proof.\n  intros n.\n  lia.\nQed."
    assert proof_text("lean4", ["constructor", "trivial"]) == "  constructor\n  trivial"
    with pytest.raises(ValueError):
        TacticConfig(prompt="no goals field {statement}")
    with pytest.raises(ValueError):
        TacticConfig(prompt="{goals} {unknown}")


class Counting:
    """The Lean prover's statement-exact check, counted."""

    language = "lean4"

    def __init__(self, prover):
        self.prover, self.calls = prover, 0

    def check(self, task):
        self.calls += 1
        return self.prover.check(task)


def test_lean_states_whose_proof_status_is_not_completed_cost_no_check():
    from lemmaflow.tools.provers.lean import LeanProver
    from lemmaflow.tools.provers.lean_repl import fake_repl_command

    task = ProofTask(name="t", statement="theorem t (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n", proof="",
                     header="import Mathlib\n")
    # every one of these leaves no goals; only the last is a complete proof for the REPL
    tactics = ["exact ?_", "fake_kernel_reject", "constructor; exact hp; exact hq"]
    with LeanProver(command=tuple(fake_repl_command()), pool_size=2, timeout_s=10.0) as prover:
        counting = Counting(prover)
        with prover.tactic_session(task) as session:
            problem = TacticProblem(task, session, counting)
            res = run(BestFirst(width=3, expansions=1), problem, cycling(tactics))
    by_text = {n.text: n.state for n in res.tree if n.text}
    assert by_text["exact ?_"].status == "error" and "metavariable" in by_text["exact ?_"].error
    assert by_text["fake_kernel_reject"].status == "error" and "kernel" in by_text["fake_kernel_reject"].error
    assert by_text["constructor; exact hp; exact hq"].status == "solved"
    assert counting.calls == 1  # only the completed state paid for the statement-exact check
    assert problem.checked[-1].proved


def test_a_solved_state_with_an_incomplete_status_is_rejected_without_a_check():
    from lemmaflow.tools.provers.lean_tactics import TacticResult, TacticState

    class Session:  # any session (a REPL behind another client) reporting proofStatus with a "solved"
        root = TacticState(proof_state=0, goals=["⊢ p"])

        def run_tactic(self, proof_state, tactic, timeout_s=None):
            return TacticResult(status="solved", proof_state=1, proof_status="Incomplete: contains sorry")

    counting = Counting(None)
    task = ProofTask(name="t", statement="theorem t (p : Prop) (hp : p) : p := by\n", proof="")
    problem = TacticProblem(task, Session(), counting)
    state = problem.apply(problem.initial_state(), "exact hp")
    assert state.status == "error" and "contains sorry" in state.error and counting.calls == 0
