"""Candidate solutions, and the base of layer nodes that hold a candidate source (Archon, arXiv 2409.15254).

Archon builds inference-time architectures from layers: generators sample
candidate solutions, and later layers rank, critique or fuse the candidates of
the layer before. Here a layer is a node that *holds* its source node (like
:class:`~lemmaflow.agents.nodes.Vote` holds its inner chain), so layers nest:
``fuser(source=ranker(source=critic(source=chain_of_thought)))``. In a spec the
source is ``{type: ..., config: {...}}`` of any built-in node.

A source yields candidates in one of three shapes, tried in this order:

- a ``candidates`` output (another layer): used as is, one call;
- ``chains`` + ``extracted`` outputs (``self_consistency``): one call, one candidate per chain;
- ``answer`` + ``chain`` outputs (``chain_of_thought``, ``tora``, ...): called ``n`` times
  concurrently (their LLM calls batch together), one candidate per call.

If the budget stops some calls, the layer uses those that finished and says so
(``budget_limited``); if none finished it re-raises the budget error.

Example (a ranker over 3 scripted chains, ranked by agreement)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.nodes import ChainOfThought, Ranker
    from lemmaflow.tools.answers import AnswerChecker

    lm = ScriptedLM(["\\\\boxed{5}", "\\\\boxed{4}", "\\\\boxed{4.0}"])
    with AnswerChecker() as checker:
        out = asyncio.run(Ranker(source=ChainOfThought(temperature=0.7), n=3, top_k=2)(
            RunContext(backend=lm, checker=checker), question="2+2?"))
    assert out.answer == "4" and len(out.candidates) == 2
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

from ...tools.answers import majority_vote
from ..budget import BudgetExceeded
from ..node import Node, NodeConfig
from ..registry import default_registry

__all__ = ["Candidate", "CandidateLayer", "CandidateOutputs", "SourceSpec", "consensus_answer", "source_shape"]


class Candidate(BaseModel):
    """One candidate solution: its text, its extracted answer, and what later layers added."""

    chain: str
    answer: str | None
    score: float | None = None  # set by a ranker
    critique: str | None = None  # set by a critic


class SourceSpec(BaseModel):
    """The node a layer draws candidates from: ``{type: chain_of_thought, config: {...}}``."""

    type: str
    config: dict[str, Any] = Field(default_factory=dict)


class CandidateOutputs(BaseModel):
    """Outputs every layer shares: the layer's answer, its best chain, and its candidates for the next layer."""

    answer: str | None
    chain: str
    candidates: list[Candidate]
    samples_used: int  # candidates this layer received from its source
    budget_limited: bool = False


def source_shape(node: Node) -> str:
    """How a node yields candidates: ``candidates``, ``chains`` or ``single`` (ValueError if it cannot)."""
    fields = node.Outputs.model_fields
    if "candidates" in fields:
        return "candidates"
    if "chains" in fields and "extracted" in fields:
        return "chains"
    if "answer" in fields and "chain" in fields:
        return "single"
    raise ValueError(
        f"node {node.kind!r} cannot be a candidate source: it needs a `candidates` output, "
        "`chains` + `extracted` outputs, or `answer` + `chain` outputs"
    )


async def consensus_answer(ctx, candidates: list[Candidate]) -> str | None:
    """The majority answer over candidates (equivalence by the context's checker; first answer without one)."""
    answers = [c.answer for c in candidates]
    if ctx.checker is None:
        return next((a for a in answers if a is not None), None)
    vote = await asyncio.to_thread(majority_vote, answers, ctx.checker)
    return vote.winner


class CandidateLayer(Node):
    """Base of layer nodes: holds a source node and gathers its candidates.

    Subclasses define ``Config`` (subclassing :class:`CandidateLayer.Config`),
    ``Outputs`` (subclassing :class:`CandidateOutputs`) and ``run``, calling
    :meth:`gather` first.
    """

    class Config(NodeConfig):
        source: SourceSpec
        n: int = Field(4, ge=1, le=1024, description="source calls, when the source yields one candidate per call")

    class Inputs(BaseModel):
        question: str

    Outputs = CandidateOutputs

    def __init__(self, config=None, *, source: Node | SourceSpec | dict | None = None, **overrides):
        if isinstance(source, Node):
            overrides["source"] = SourceSpec(type=source.kind, config=source.config.model_dump(mode="json"))
        elif source is not None:
            overrides["source"], source = source, None
        super().__init__(config, **overrides)
        if source is None:
            cls = default_registry().get(self.config.source.type)
            source = cls(self.config.source.config)
        self.shape = source_shape(source)
        self.source = source
        self.needs_executor = getattr(source, "needs_executor", False)

    async def gather(self, ctx, question: str) -> tuple[list[Candidate], bool]:
        """The source's candidates (copies, safe to annotate) and whether the budget cut them short."""
        src = self.source
        if self.shape == "candidates":
            out = await src(ctx.child("source"), question=question)
            return [c.model_copy() for c in out.candidates], bool(getattr(out, "budget_limited", False))
        if self.shape == "chains":
            out = await src(ctx.child("source"), question=question)
            cands = [Candidate(chain=ch, answer=a) for ch, a in zip(out.chains, out.extracted)]
            return cands, bool(getattr(out, "budget_limited", False))

        async def one(i: int):
            try:
                return await src(ctx.child(f"s{i}"), question=question)
            except BudgetExceeded as e:
                return e

        results = await asyncio.gather(*(one(i) for i in range(self.config.n)))
        done = [r for r in results if not isinstance(r, BudgetExceeded)]
        if not done:
            raise results[0]
        return [Candidate(chain=r.chain, answer=r.answer) for r in done], len(done) < self.config.n
