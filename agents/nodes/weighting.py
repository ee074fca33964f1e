"""Vote weights from a scorer: each chain's weight is its chain score (weighted self-consistency).

Used by :class:`SelfConsistency` and :class:`Vote` when their config has a
``scorer`` spec (``{type: step_verifier}``, ``{type: reward_model, model: prm}``,
...). Chains are split into steps with :func:`lemmaflow.tools.steps.split_steps`
and scored in ONE scorer call; a chain that abstained votes for nothing, so it
is not scored (weight 0). Every score becomes a ``score`` trace event.

Example::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.nodes.weighting import chain_weights
    from lemmaflow.agents.scorers import build_scorer

    scorer = build_scorer({"type": "step_verifier", "judge": False, "aggregate": "min"})
    w = asyncio.run(chain_weights(scorer, RunContext(backend=ScriptedLM(["-"])), "?",
                                  ["2 + 2 = 4\\n\\nSo 4.", "2 + 2 = 5\\n\\nSo 5.", "no idea"], ["4", "5", None]))
    assert w == [1.0, 0.0, 0.0]
"""

from __future__ import annotations

from typing import Any, Sequence

from ...tools.steps import split_steps
from ..scorers import StepScoreRequest, build_scorer

__all__ = ["chain_weights", "make_scorer"]


def make_scorer(spec: dict[str, Any] | None):
    """The scorer of a node config's ``scorer`` field (None: unweighted). Bad specs are ValueErrors."""
    if spec is None:
        return None
    from ..scorers import ScorerError

    try:
        return build_scorer(spec)
    except ScorerError as e:
        raise ValueError(str(e)) from e


async def chain_weights(scorer, ctx, question: str, chains: Sequence[str], answers: Sequence[str | None]) -> list[float]:
    """One weight in [0, 1] per chain: its chain score, 0.0 where the chain abstained."""
    todo = [i for i, a in enumerate(answers) if a is not None]
    weights = [0.0] * len(chains)
    if not todo:
        return weights
    requests = [StepScoreRequest(question=question, steps=tuple(split_steps(chains[i]) or [chains[i]])) for i in todo]
    scores = await scorer.score(ctx.child("scorer"), requests)
    for i, s in zip(todo, scores):
        weights[i] = min(1.0, max(0.0, float(s.value)))
        ctx.trace.add("score", ctx.node_path, sample=i, answer=answers[i], value=s.value, steps=s.steps,
                      scorer=scorer.kind)
    return weights
