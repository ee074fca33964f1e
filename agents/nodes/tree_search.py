r"""Tree-search nodes: best-of-N, beam, DVTS, MCTS and particle filtering over solution steps.

Each node builds a :class:`~lemmaflow.agents.search.MathStepProblem` for its
question (steps up to a delimiter, valued by the ``scorer`` spec) and runs one
algorithm of :mod:`lemmaflow.agents.search` on it:

========================  =====================  ==============================================
node type                 algorithm              paper
========================  =====================  ==============================================
``best_of_n``             :class:`BestOfN`       weighted best-of-N (arXiv 2206.02336)
``beam_search``           :class:`BeamSearch`    PRM-guided beam search (arXiv 2408.03314)
``dvts``                  :class:`DVTS`          diverse verifier tree search (HF search-and-learn)
``mcts``                  :class:`MCTS`          PUCT MCTS, AlphaMath (arXiv 2405.03553)
``particle_filter``       :class:`ParticleFilter` particle filtering (arXiv 2502.01618)
========================  =====================  ==============================================

The final answer comes from the search's finished solutions (``leaves``):
``aggregate: weighted_vote`` (default) sums each answer class's scores over
mathematically equivalent answers (the context's AnswerChecker), ``vote``
counts them, ``best`` takes the chosen/best-scored solution. Outputs are a
:class:`VotedAnswer` (so Vote/bench code reads them like self-consistency)
plus the chosen ``solution`` and search statistics. ``token_budget`` caps the
completion tokens a search spends; ledger caps (``--max-completion-tokens``)
stop it cleanly too (``budget_limited``). The whole tree is traced
(``search_node``/``search_result`` events; ``lemmaflow trace show --html``).

Example (scripted model; a step verifier that checks arithmetic with sympy)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.nodes import BeamSearchNode
    from lemmaflow.tools.answers import AnswerChecker

    def lm(prompt, i):   # step 1: a right or a wrong sum; step 2: the answer it implies
        if "= " not in prompt.split("<assistant>")[-1]:
            return ["3 + 4 = 7\n\n", "3 + 4 = 8\n\n"][i % 2]
        return "So \\boxed{7}." if "= 7" in prompt else "So \\boxed{8}."
    node = BeamSearchNode(beam_size=2, width=2, scorer={"type": "step_verifier", "judge": False})
    with AnswerChecker() as checker:
        out = asyncio.run(node(RunContext(backend=ScriptedLM(lm), checker=checker), question="3+4?"))
    assert out.answer == "7" and out.solution == "3 + 4 = 7\n\nSo \\boxed{7}."
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from ...tools.answers import majority_vote
from ..budget import BudgetExceeded
from ..node import Node, NodeConfig
from ..search import DVTS, MCTS, BeamSearch, BestOfN, MathStepConfig, MathStepProblem, ParticleFilter
from ..search.base import Leaf, SearchAlgorithm
from .self_consistency import VotedAnswer, VoteSummary, record_vote
from .weighting import make_scorer

__all__ = ["BeamSearchNode", "BestOfNNode", "DVTSNode", "MCTSNode", "ParticleFilterNode", "TreeSearchNode"]

DEFAULT_SCORER: dict[str, Any] = {"type": "step_verifier", "model": "verifier", "aggregate": "min", "votes": 1,
                                  "max_tokens": 128}


class SearchNodeConfig(MathStepConfig, NodeConfig):
    scorer: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_SCORER),
                                   description="scorer spec valuing partial solutions (agents.scorers)")
    aggregate: Literal["weighted_vote", "vote", "best"] = "weighted_vote"


class TreeSearchNode(Node):
    """Base of the search nodes: a math-step problem, one algorithm, an aggregated answer."""

    Algorithm: ClassVar[type[SearchAlgorithm]]
    Config: ClassVar[type[SearchNodeConfig]] = SearchNodeConfig

    class Inputs(BaseModel):
        question: str

    class Outputs(VotedAnswer):
        solution: str | None = None  # the steps of the best-scored solution giving the answer, joined
        leaves: list[Leaf] = []
        algorithm: str = ""
        nodes: int = 0
        rounds: int = 0
        search_tokens: int = 0

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.scorer = make_scorer(self.config.scorer)
        data = self.config.model_dump()
        algo_fields = set(self.Algorithm.Config.model_fields)
        # max_tokens (per step) serves both: the generation cap and the algorithm's ledger worst case.
        self._algo_config = self.Algorithm.Config(**{k: v for k, v in data.items() if k in algo_fields})
        self._step_config = MathStepConfig(**{k: v for k, v in data.items() if k in MathStepConfig.model_fields})

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        c = self.config
        problem = MathStepProblem(inputs.question, self._step_config, scorer=self.scorer)
        res = await self.Algorithm(self._algo_config).search(problem, ctx)
        if not res.leaves:
            if res.budget_limited:  # nothing to answer with: let the pipeline report it
                raise BudgetExceeded(ctx.node_path, "completion_tokens", res.tokens, res.tokens, 1)
            raise RuntimeError(f"{self.kind}: the search produced no solution")
        extracted = [leaf.answer for leaf in res.leaves]
        pick = 0  # the leaf whose solution is reported (leaves come best first)
        if c.aggregate == "best":
            best = res.leaves[0]
            answer, confidence = best.answer, best.score
            votes = [VoteSummary(answer=best.answer, votes=best.score, samples=[0])] if best.answer else []
            ctx.trace.add("vote", ctx.node_path, winner=answer, confidence=confidence,
                          classes=[v.model_dump() for v in votes], abstained=0)
        else:
            checker = ctx.require_checker()
            weights = [leaf.score for leaf in res.leaves] if c.aggregate == "weighted_vote" else None
            if weights is not None and not any(w > 0 for w in weights):
                weights = None  # every score 0: count votes instead of voting for nothing
            result = await asyncio.to_thread(majority_vote, extracted, checker, weights)
            answer, confidence = result.winner, result.confidence
            votes = record_vote(ctx, result)
            if votes and answer is not None:  # show the best-scored solution of the winning class
                pick = min(votes[0].samples)
        # What this node decided, for the trace view: the path of the solution it reports (for a
        # vote, the best-scored leaf of the winning class), not the search's top-scored leaf.
        by_id = {n.id: n for n in res.tree}
        path, cur = [], by_id.get(res.leaves[pick].node)
        while cur is not None:
            path.append(cur.id)
            cur = by_id.get(cur.parent) if cur.parent is not None else None
        ctx.trace.add("search_answer", ctx.node_path, chosen=path[::-1], answer=answer, aggregate=c.aggregate,
                      leaf=res.leaves[pick].node, leaves=[leaf.node for leaf in res.leaves])
        return self.Outputs(
            answer=answer, confidence=confidence, votes=votes, extracted=extracted, samples_used=len(res.leaves),
            budget_limited=res.budget_limited, solution=problem.solution(res.states[pick]), leaves=res.leaves,
            algorithm=res.algorithm, nodes=res.nodes, rounds=res.rounds, search_tokens=res.tokens,
        )


class BestOfNNode(TreeSearchNode):
    """Weighted best-of-N over step-by-step solutions scored by a scorer (arXiv 2206.02336)."""

    kind = "best_of_n"
    Algorithm = BestOfN

    class Config(SearchNodeConfig, BestOfN.Config):
        pass


class BeamSearchNode(TreeSearchNode):
    """Step-level beam search guided by a scorer/PRM (arXiv 2408.03314, HF search-and-learn)."""

    kind = "beam_search"
    Algorithm = BeamSearch

    class Config(SearchNodeConfig, BeamSearch.Config):
        pass


class DVTSNode(TreeSearchNode):
    """Diverse verifier tree search: independent greedy subtrees (HF search-and-learn)."""

    kind = "dvts"
    Algorithm = DVTS

    class Config(SearchNodeConfig, DVTS.Config):
        pass


class MCTSNode(TreeSearchNode):
    """MCTS with PUCT over solution steps, value from a scorer or rollouts (AlphaMath, arXiv 2405.03553)."""

    kind = "mcts"
    Algorithm = MCTS

    class Config(SearchNodeConfig, MCTS.Config):
        pass


class ParticleFilterNode(TreeSearchNode):
    """Particle filtering over partial solutions, reward-weighted resampling (arXiv 2502.01618)."""

    kind = "particle_filter"
    Algorithm = ParticleFilter

    class Config(SearchNodeConfig, ParticleFilter.Config):
        pass

