"""Which node a spec's ``type`` names: the node registry and the table of built-in nodes.

Composite nodes (``vote``, ``decompose``, the candidate layers) build the nodes they hold
from spec fragments, so they need the registry, and the registry needs every node. To keep
imports running one way, this module imports no node module: the built-in nodes are
registered here, in one table, by ``"module:Class"`` name, and imported when a registry is
made (as entry points are). Node modules import this module; it never imports them back.

Example::

    from lemmaflow.agents.registry import NodeRegistry, default_registry

    reg = default_registry()
    cls = reg.get("self_consistency")             # lemmaflow.agents.nodes.SelfConsistency
    mine = NodeRegistry({"sc": cls})              # a registry of your own, passed explicitly
"""

from __future__ import annotations

import importlib

from .node import Node

__all__ = ["BUILTIN_NODE_TYPES", "NodeRegistry", "SpecError", "builtin_node_classes", "default_registry"]


class SpecError(ValueError):
    """A spec file or dict is malformed; the message says where."""


# The one place built-in nodes are registered: spec `type` -> "module:Class" (relative to lemmaflow.agents).
BUILTIN_NODE_TYPES: dict[str, str] = {
    "chain_of_thought": ".nodes.chain_of_thought:ChainOfThought",
    "self_consistency": ".nodes.self_consistency:SelfConsistency",
    "program_of_thought": ".nodes.program_of_thought:ProgramOfThought",
    "tora": ".nodes.tora:ToRA",
    "dotamath": ".nodes.tora:DotaMath",
    "vote": ".nodes.vote:Vote",
    "fobar": ".nodes.fobar:FOBAR",
    "verify_chain": ".nodes.verify:VerifyChain",
    "linc": ".nodes.linc:Linc",
    "rewoo": ".nodes.rewoo:ReWOO",
    "react": ".nodes.react:ReAct",
    "decompose": ".nodes.decompose:Decompose",
    "tool_maker": ".nodes.tool_maker:ToolMaker",
    "tool_user": ".nodes.tool_user:ToolUser",
    "best_of_n": ".nodes.tree_search:BestOfNNode",
    "beam_search": ".nodes.tree_search:BeamSearchNode",
    "dvts": ".nodes.tree_search:DVTSNode",
    "mcts": ".nodes.tree_search:MCTSNode",
    "particle_filter": ".nodes.tree_search:ParticleFilterNode",
    "lego_prover": ".proving.lego:LegoProver",
    "lego_evolver": ".proving.evolver:Evolver",
    "proof_search": ".nodes.proof_search:ProofSearch",
    "whole_proof": ".proving.whole_proof:WholeProof",
    "ranker": ".nodes.ranker:Ranker",
    "fuser": ".nodes.fuser:Fuser",
    "critic": ".nodes.critic:Critic",
    "reviser": ".nodes.reviser:Reviser",
}


class NodeRegistry:
    """Maps spec ``type`` names to node classes."""

    def __init__(self, nodes: dict[str, type[Node]] | None = None):
        self._nodes: dict[str, type[Node]] = dict(nodes or {})

    def register(self, cls: type[Node], kind: str | None = None) -> type[Node]:
        kind = kind or cls.kind
        if not kind:
            raise ValueError(f"{cls.__name__} has no `kind`; pass one to register()")
        self._nodes[kind] = cls
        return cls

    def get(self, kind: str) -> type[Node]:
        if not isinstance(kind, str):  # from a spec file: a list or mapping where a type name belongs
            raise SpecError(f"a node type is a name, not {type(kind).__name__} {kind!r}; known types: "
                            f"{sorted(self._nodes)}")
        try:
            return self._nodes[kind]
        except KeyError:
            raise SpecError(f"unknown node type {kind!r}; known types: {sorted(self._nodes)}") from None

    def kinds(self) -> list[str]:
        return sorted(self._nodes)


def builtin_node_classes() -> list[type[Node]]:
    """Every built-in node class, in the table's order (imports the node modules on first use)."""
    out = []
    for kind, target in BUILTIN_NODE_TYPES.items():
        module, _, name = target.partition(":")
        cls = getattr(importlib.import_module(module, __package__), name)
        if cls.kind != kind:  # the table and the class disagree: a registration bug, not user input
            raise RuntimeError(f"node table says {kind!r} for {target}, the class says {cls.kind!r}")
        out.append(cls)
    return out


def default_registry() -> NodeRegistry:
    """A new registry holding every built-in node."""
    return NodeRegistry({cls.kind: cls for cls in builtin_node_classes()})
