"""ProofSearch node: scripted model proposing real Coq tactics, real Coq; the tree in outputs and trace."""

from __future__ import annotations

import asyncio
import importlib
import re
import textwrap

import pytest
from pydantic import ValidationError

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import BUILTIN_NODES, ProofSearch
from lemmaflow.tools.provers import ProofTask
from lemmaflow.tools.provers.coq import CoqProver

STATEMENT = "Theorem add_zero : forall n : nat, n + 0 = n."
TACTICS = ["intros n.", "apply foo.", "induction n.", "simpl.", "rewrite IHn.", "reflexivity."]


def lm():
    return ScriptedLM(lambda prompt, i: TACTICS[i % len(TACTICS)])


@pytest.fixture(scope="module")
def coq():
    with CoqProver(pool_size=1, preload="", timeout_s=20.0) as prover:
        yield prover


def run(node, **inputs):
    ctx = RunContext(backend=lm())
    return asyncio.run(node(ctx, name="add_zero", statement=STATEMENT, **inputs)), ctx


@pytest.mark.parametrize("algorithm", ["best_first", "beam", "mcts"])
def test_every_algorithm_proves_it_and_reports_the_tree(coq, algorithm):
    node = ProofSearch(algorithm=algorithm, width=len(TACTICS), beam_size=2, simulations=20, prover=coq)
    out, ctx = run(node)
    assert out.proved and out.status == "proved" and out.check == "proved" and out.reason is None
    assert out.proof.startswith("Proof.") and out.proof.endswith("Qed.") and "apply foo." not in out.proof
    assert coq.check(ProofTask(name="add_zero", statement=STATEMENT, proof=out.proof)).proved
    assert out.algorithm == algorithm and out.nodes == len(out.tree) and out.tactic_calls >= 1
    assert any(n.tactic == "apply foo." and n.status == "error" and "foo" in n.error for n in out.tree)
    assert any(n.status == "solved" for n in out.tree)
    kinds = [e.kind for e in ctx.trace.events]
    assert "search_node" in kinds and "search_result" in kinds
    assert any(e.kind == "info" and e.data.get("event") == "proof_search" and e.data["proved"]
               for e in ctx.trace.events)


def test_budget_exhausted_is_failed_with_the_tree(coq):
    out, _ = run(ProofSearch(width=len(TACTICS), token_budget=4, prover=coq))
    assert not out.proved and out.status == "failed" and out.proof is None and out.budget_limited
    assert "budget" in out.reason and len(out.tree) == 1 + len(TACTICS)


def test_search_limit_reached_is_failed(coq):
    out, _ = run(ProofSearch(width=1, expansions=2, prover=coq))  # only "intros n." then "intros n." again
    assert not out.proved and out.reason.startswith("no proof found") and out.tree[0].parent is None


def test_a_statement_that_does_not_load_fails_cleanly(coq):
    node = ProofSearch(prover=coq)
    out = asyncio.run(node(RunContext(backend=lm()), name="u", statement="Theorem u : foo = 1."))
    assert not out.proved and "cannot open a tactic session" in out.reason and "foo" in out.reason


def test_without_a_prover_the_node_starts_and_closes_one():
    node = ProofSearch(width=len(TACTICS), prover_options={"preload": ""})
    out, _ = run(node)
    assert out.proved and out.check == "proved"


def test_config_is_validated_and_registered():
    with pytest.raises(ValidationError):
        ProofSearch(algorithm="dfs")
    with pytest.raises(ValidationError):
        ProofSearch(language="isabelle")
    assert ProofSearch in BUILTIN_NODES and ProofSearch.kind == "proof_search"


@pytest.mark.parametrize("name", ["lemmaflow.agents.nodes.proof_search", "lemmaflow.agents.search.proof_tactics",
                                  "lemmaflow.agents.search.best_first", "lemmaflow.tools.provers.coq_tactics"])
def test_docstring_examples_run(name):
    mod = importlib.import_module(name)
    code = textwrap.dedent(re.split(r"Example[^\n]*::\n", mod.__doc__, maxsplit=1)[1])
    exec(compile(code, f"{name} docstring", "exec"), {})


@pytest.mark.embedded
def test_end_to_end_on_the_embedded_model(coq):
    """The real path: vLLM's CPU engine proposes, real Coq runs every tactic (the 135M model rarely proves)."""
    from lemmaflow.agents.backends import make_embedded_backend

    backend = make_embedded_backend(seed=0, max_model_len=1024)
    node = ProofSearch(algorithm="beam", width=2, beam_size=1, max_tokens=32, max_steps=2, prover=coq)
    out = asyncio.run(node(RunContext(backend=backend), name="add_zero", statement=STATEMENT))
    assert out.search_tokens > 0 and out.tactic_calls >= 1 and len(out.tree) >= 2
    assert all(n.status in ("open", "solved", "error", "timeout", "depth_limit") for n in out.tree[1:])
    errors = [n for n in out.tree if n.status == "error"]
    assert all(n.error for n in errors)  # every failure says why (Coq's message or the refusal)
    assert out.proved == (out.check == "proved")
