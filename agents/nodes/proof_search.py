"""ProofSearch: tactic-level proof search with a real prover (GPT-f, arXiv 2009.03393).

The node opens a tactic session on the statement (Coq: a ``coqidetop``; Lean 4:
a REPL process), builds a :class:`~lemmaflow.agents.search.TacticProblem` and
runs one algorithm of :mod:`lemmaflow.agents.search` on it: ``best_first``
(default, :class:`BestFirst`), ``beam`` (:class:`BeamSearch`) or ``mcts``
(:class:`MCTS`). The model proposes ``width`` tactics per state, all states of
a round in one batched generate; the prover runs them; errors prune; a proof the
session calls finished is re-checked by the prover's statement-exact ``check``
before it counts. Outputs: ``proved``, the ``proof`` text, the final check's
verdict, and the search tree (also traced as ``search_node`` events, drawn by
``lemmaflow trace show --html``).

The prover is passed explicitly (``ProofSearch(prover=CoqProver(...))``) and
stays open across problems; without one the node starts a fresh prover per run
from ``language`` + ``prover_options`` and closes it.

Example (scripted model proposing real Coq tactics, real Coq)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.nodes import ProofSearch
    from lemmaflow.tools.provers.coq import CoqProver

    tactics = ["intros n.", "apply foo.", "induction n.", "simpl.", "rewrite IHn.", "reflexivity."]
    lm = ScriptedLM(lambda prompt, i: tactics[i % len(tactics)])
    with CoqProver(pool_size=1, preload="") as prover:
        node = ProofSearch(algorithm="beam", beam_size=2, width=6, prover=prover)
        out = asyncio.run(node(RunContext(backend=lm), name="t",
                               statement="Theorem t : forall n : nat, n + 0 = n."))
    assert out.proved and out.check == "proved" and out.proof.endswith("Qed.")
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal

from pydantic import BaseModel, Field

from ...tools.provers.base import ProofTask, ProverError
from ..node import Node, NodeConfig
from ..search import MCTS, BeamSearch, BestFirst, TacticConfig, TacticProblem
from ..search.base import SearchAlgorithm, SearchResult

__all__ = ["ProofSearch", "ProofSearchNode"]

_ALGORITHMS: dict[str, type[SearchAlgorithm]] = {"best_first": BestFirst, "beam": BeamSearch, "mcts": MCTS}


class ProofSearchConfig(TacticConfig, NodeConfig):
    algorithm: Literal["best_first", "beam", "mcts"] = "best_first"
    language: Literal["coq", "lean4"] = Field("coq", description="prover started when none is passed")
    prover_options: dict[str, Any] = Field(default_factory=dict, description="CoqConfig / LeanConfig fields")
    # algorithm knobs (each algorithm reads the ones it has)
    width: int = Field(4, ge=1, description="tactics proposed per expanded state")
    beam_size: int = Field(4, ge=1, description="beam: states kept per depth")
    batch: int = Field(1, ge=1, description="best_first: states expanded per round")
    expansions: int = Field(32, ge=1, description="best_first: states expanded at most")
    simulations: int = Field(16, ge=1, description="mcts: expansions")
    c_puct: float = Field(1.25, ge=0)
    token_budget: int | None = Field(None, ge=1, description="completion tokens the search may spend")


class SearchNodeOut(BaseModel):
    """One node of the search tree: the tactic that reached it and what the prover said."""

    id: int
    parent: int | None
    tactic: str
    status: str
    goals: int
    score: float | None
    error: str | None = None


class ProofSearch(Node):
    """Tactic-level proof search over Coq or Lean, any search algorithm (GPT-f, arXiv 2009.03393)."""

    kind = "proof_search"
    Config = ProofSearchConfig

    class Inputs(BaseModel):
        name: str
        statement: str
        header: str = ""
        context: tuple[str, ...] = ()

    class Outputs(BaseModel):
        proved: bool
        status: Literal["proved", "failed"]
        proof: str | None = None
        check: str | None = None  # the statement-exact check's summary of the returned proof
        reason: str | None = None  # why failed, in one line
        algorithm: str = ""
        nodes: int = 0
        rounds: int = 0
        tactic_calls: int = 0
        search_tokens: int = 0
        budget_limited: bool = False
        tree: list[SearchNodeOut] = []

    def __init__(self, config=None, *, prover: Any | None = None, value_fn=None, **overrides):
        super().__init__(config, **overrides)
        if prover is not None and not callable(getattr(prover, "tactic_session", None)):
            # a checker without tactic mode (a whole-proof server): say so now, not mid-run
            raise TypeError(f"ProofSearch needs a prover with tactic sessions (CoqProver, LeanProver); "
                            f"{type(prover).__name__} only checks whole proofs (use LegoProver or whole-proof "
                            "generation with it)")
        self.prover, self.value_fn = prover, value_fn
        data = self.config.model_dump()
        algo = _ALGORITHMS[self.config.algorithm]
        fields = set(algo.Config.model_fields)
        if self.config.algorithm == "beam":
            data["solutions"] = 1  # one checked proof is enough
        # max_tokens (per tactic) serves both: the generation cap and the algorithm's ledger worst case
        self._algo = algo(algo.Config(**{k: v for k, v in data.items() if k in fields}))
        self._tactic_config = TacticConfig(**{k: v for k, v in data.items() if k in TacticConfig.model_fields})

    def _make_prover(self):
        opts = self.config.prover_options
        if self.config.language == "coq":
            from ...tools.provers.coq import CoqProver

            return CoqProver(pool_size=1, **opts)
        from ...tools.provers.lean import LeanProver

        return LeanProver(**{"pool_size": 2, **opts})  # one for the session, one for the final check

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        task = ProofTask(name=inputs.name, statement=inputs.statement, proof="", header=inputs.header,
                         context=inputs.context)
        with contextlib.ExitStack() as stack:
            prover = self.prover or stack.enter_context(self._make_prover())
            try:
                session = stack.enter_context(prover.tactic_session(task))
            except (ProverError, ValueError) as e:  # the statement does not load: nothing to search
                ctx.trace.add("info", ctx.node_path, event="proof_search", proved=False, reason=str(e))
                return self.Outputs(proved=False, status="failed", reason=f"cannot open a tactic session: {e}",
                                    algorithm=self._algo.name)
            problem = TacticProblem(task, session, prover, self._tactic_config, value_fn=self.value_fn)
            res = await self._algo.search(problem, ctx)
        return self._outputs(ctx, problem, res)

    def _outputs(self, ctx, problem: TacticProblem, res: SearchResult) -> Outputs:
        tree = self._tree(res, ctx)
        best = res.best
        proved = best is not None and best.answer is not None
        proof = best.answer if proved else None
        check = problem.checked[-1].summary() if proved and problem.checked else None
        if proved:
            reason = None
        elif res.budget_limited:
            reason = "the budget ran out before a proof was found"
        elif problem.checked:
            reason = "every finished proof was rejected by the final check"
        else:
            reason = "no proof found (every branch failed or the search limit was reached)"
        ctx.trace.add("info", ctx.node_path, event="proof_search", proved=proved, proof=proof, check=check, reason=reason,
                      nodes=res.nodes, tactic_calls=problem.tactic_calls)
        return self.Outputs(proved=proved, status="proved" if proved else "failed", proof=proof, check=check,
                            reason=reason, algorithm=res.algorithm, nodes=res.nodes, rounds=res.rounds,
                            tactic_calls=problem.tactic_calls, search_tokens=res.tokens,
                            budget_limited=res.budget_limited, tree=tree)

    @staticmethod
    def _tree(res: SearchResult, ctx) -> list[SearchNodeOut]:
        out = []
        for n in res.tree:
            st = n.state
            status = st.status if not (n.terminal and st.status == "open") else "depth_limit"
            out.append(SearchNodeOut(id=n.id, parent=n.parent, tactic=n.text, status=status, goals=len(st.goals),
                                     score=n.score, error=st.error))
        return out

ProofSearchNode = ProofSearch
