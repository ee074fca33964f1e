"""Search spaces over Archon-style pipelines (arXiv 2409.15254): which layers, how many samples, which scorer...

A :class:`SearchSpace` (validated YAML) declares a *generator* (the node that
samples candidate solutions), how many candidates it draws (``samples``), and
an ordered list of *layers* (``critic``, ``ranker``, ``fuser``, or any node built
on :class:`~lemmaflow.agents.nodes.CandidateLayer`), each optionally switched
off. Any config value may be a search parameter instead of a fixed value:

- ``{choices: [a, b, ...]}`` — categorical (values may be mappings, e.g. scorer specs, or null);
- ``{int: [low, high]}`` (``log: true``, ``step: k``) — an integer range;
- ``{float: [low, high]}`` (``log: true``) — a float range.

A configuration (one value per parameter) becomes a pipeline spec by nesting:
the first enabled layer holds the generator and draws ``samples`` candidates
from it, each later enabled layer holds the one before, and the outermost layer
is the pipeline's single node. With no layer enabled the pipeline is
self-consistency over the generator (``vote`` with ``k = samples``), or the
generator alone when ``samples`` is 1. The spec is a plain pipeline spec:
``lemmaflow solve --pipeline best.yaml`` runs it.

Example::

    from lemmaflow.agents.compose_space import SearchSpace, describe_stack, realize
    from lemmaflow.agents.spec import build_pipeline

    space = SearchSpace.model_validate({
        "generator": {"type": "chain_of_thought", "config": {"temperature": {"choices": [0.3, 0.7]}}},
        "samples": {"choices": [1, 4]},
        "layers": [{"type": "ranker", "config": {"top_k": {"int": [1, 3]}}},
                   {"type": "fuser", "optional": False}],
    })
    params = {"samples": 4, "generator.temperature": 0.7, "L1.ranker": True, "L1.ranker.top_k": 2}
    spec = realize(space, lambda name, p: params[name])
    assert spec["nodes"][0]["type"] == "fuser"
    build_pipeline(spec)  # a valid pipeline
    print(describe_stack(spec["nodes"][0]))  # fuser(ranker[top_k=2](chain_of_thought[temperature=0.7] x4))
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "ChoiceParam",
    "FloatParam",
    "HalvingConfig",
    "IntParam",
    "LayerSpace",
    "NodeSpace",
    "Param",
    "SearchSpace",
    "SpaceError",
    "describe_stack",
    "load_space",
    "realize",
]


class SpaceError(ValueError):
    """A search space file is malformed, or a configuration cannot be built; the message says where."""


class _ParamBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChoiceParam(_ParamBase):
    choices: list[Any] = Field(min_length=1)

    def labels(self) -> list[str]:
        """Optuna categoricals must be primitives: each choice is named by its JSON text."""
        return [json.dumps(c, sort_keys=True) for c in self.choices]

    def value_of(self, label: str) -> Any:
        return self.choices[self.labels().index(label)]


class IntParam(_ParamBase):
    int_: tuple[int, int] = Field(alias="int")
    log: bool = False
    step: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _order(self):
        lo, hi = self.int_
        if lo > hi or (self.log and lo < 1):
            raise ValueError(f"int range {list(self.int_)}: need low <= high (and low >= 1 with log)")
        return self


class FloatParam(_ParamBase):
    float_: tuple[float, float] = Field(alias="float")
    log: bool = False

    @model_validator(mode="after")
    def _order(self):
        lo, hi = self.float_
        if lo > hi or (self.log and lo <= 0):
            raise ValueError(f"float range {list(self.float_)}: need low <= high (and low > 0 with log)")
        return self


Param = Union[ChoiceParam, IntParam, FloatParam]
_PARAM_KEYS = {"choices": ChoiceParam, "int": IntParam, "float": FloatParam}


def _as_param(value: Any) -> Any:
    """A ``{choices|int|float: ...}`` mapping becomes a Param; anything else is a fixed value."""
    if isinstance(value, dict):
        keys = [k for k in _PARAM_KEYS if k in value]
        if len(keys) == 1:
            return _PARAM_KEYS[keys[0]].model_validate(value)
    return value


class NodeSpace(BaseModel):
    """A node whose type and config values may be search parameters."""

    model_config = ConfigDict(extra="forbid")
    type: str | ChoiceParam
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, v):
        return _as_param(v)

    @field_validator("config", mode="before")
    @classmethod
    def _config(cls, v):
        if not isinstance(v, dict):
            raise ValueError("config must be a mapping")
        return {k: _as_param(x) for k, x in v.items()}


class LayerSpace(NodeSpace):
    """A layer over the candidates of the layer below; ``optional`` makes 'is it there' a parameter."""

    optional: bool = True

    @field_validator("type", mode="after")
    @classmethod
    def _layer_type(cls, v):
        if not isinstance(v, str):
            raise ValueError("a layer's type is fixed (make the layer optional, or declare two layers)")
        return v


class HalvingConfig(BaseModel):
    """Successive halving over the dev set: rungs of ``min_problems · eta^r`` problems."""

    model_config = ConfigDict(extra="forbid")
    min_problems: int = Field(4, ge=1)
    eta: int = Field(2, ge=2)


class SearchSpace(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("compose", pattern=r"^[A-Za-z0-9_.-]+$")
    generator: NodeSpace
    samples: int | ChoiceParam | IntParam = 4
    layers: list[LayerSpace] = Field(default_factory=list)
    # tpe: every configuration runs on the whole dev set. halving: TPE proposes, and a
    # successive-halving pruner stops configurations that trail at a rung of the dev set.
    search: Literal["tpe", "halving"] = "tpe"
    halving: HalvingConfig = Field(default_factory=HalvingConfig)
    seed: int = 0
    startup_trials: int = Field(8, ge=1, description="random configurations before TPE models the results")
    max_trials: int = Field(60, ge=1)

    @field_validator("samples", mode="before")
    @classmethod
    def _samples(cls, v):
        return _as_param(v)

    @model_validator(mode="after")
    def _check_nodes(self):
        from .nodes.candidates import CandidateLayer
        from .spec import default_registry

        reg = default_registry()
        types = self.generator.type.choices if isinstance(self.generator.type, ChoiceParam) else [self.generator.type]
        for t in types:
            try:
                reg.get(t)
            except ValueError as e:
                raise ValueError(f"generator: {e}") from None
        for i, layer in enumerate(self.layers, 1):
            try:
                cls = reg.get(layer.type)
            except ValueError as e:
                raise ValueError(f"layer {i}: {e}") from None
            if not issubclass(cls, CandidateLayer):
                raise ValueError(f"layer {i}: {layer.type!r} is not a candidate layer (critic, ranker, fuser, ...)")
        return self

    def size(self) -> int | None:
        """How many configurations the space holds (None when a float range makes it infinite)."""
        def count(p) -> int | None:
            if isinstance(p, ChoiceParam):
                return len(p.choices)
            if isinstance(p, IntParam):
                lo, hi = p.int_
                return None if p.log else (hi - lo) // p.step + 1
            if isinstance(p, FloatParam):
                return None
            return 1

        def node(ns: NodeSpace) -> int | None:
            counts = [count(ns.type)] + [count(v) for v in ns.config.values()]
            return None if None in counts else math.prod(counts)

        total = [count(self.samples), node(self.generator)]
        for layer in self.layers:
            n = node(layer)
            total.append(None if n is None else n + (1 if layer.optional else 0))
        return None if None in total else math.prod(total)


Suggest = Callable[[str, Any], Any]  # (parameter name, Param) -> value


def _value(suggest: Suggest, name: str, v: Any) -> Any:
    return suggest(name, v) if isinstance(v, (ChoiceParam, IntParam, FloatParam)) else v


def _node(suggest: Suggest, prefix: str, ns: NodeSpace) -> dict:
    t = _value(suggest, f"{prefix}.type", ns.type)
    return {"type": t, "config": {k: _value(suggest, f"{prefix}.{k}", v) for k, v in ns.config.items()}}


def realize(space: SearchSpace, suggest: Suggest, overrides: dict[str, Any] | None = None) -> dict:
    """The pipeline spec of one configuration; ``suggest(name, param)`` picks each parameter's value.

    Parameter names: ``samples``, ``generator.type``, ``generator.<field>``,
    ``L<i>.<type>`` (is optional layer i on) and ``L<i>.<type>.<field>``.
    ``overrides`` (e.g. ``{"max_tokens": 64}``) are set on every node whose config has that field.
    """
    samples = _value(suggest, "samples", space.samples)
    node = _node(suggest, "generator", space.generator)
    first = True
    for i, layer in enumerate(space.layers, 1):
        prefix = f"L{i}.{layer.type}"
        if layer.optional and not suggest(prefix, ChoiceParam(choices=[True, False])):
            continue
        cfg = {k: _value(suggest, f"{prefix}.{k}", v) for k, v in layer.config.items()}
        if first:
            cfg["n"] = samples
        node, first = {"type": layer.type, "config": {**cfg, "source": node}}, False
    if first and samples > 1:  # no layer: self-consistency over the generator
        node = {"type": "vote", "config": {"k": samples, "inner": node}}
    if overrides:
        _apply(node, {k: v for k, v in overrides.items() if v is not None})
    return {
        "name": space.name,
        "inputs": {"question": "str"},
        "nodes": [{"name": "compose", **node}],
        "edges": [{"from": "input.question", "to": "compose.question"}],
        "output": "compose",
    }


def _apply(node: dict, overrides: dict[str, Any]) -> None:
    from .spec import default_registry

    fields = default_registry().get(node["type"]).Config.model_fields
    cfg = node["config"]
    for k, v in overrides.items():
        if k in fields and k not in ("n", "k"):
            cfg[k] = v
    for key in ("source", "inner"):
        if isinstance(cfg.get(key), dict):
            _apply(cfg[key], overrides)


def describe_stack(node: dict) -> str:
    """A one-line description of a nested node spec: ``fuser(ranker[top_k=2](chain_of_thought x4))``."""
    cfg = dict(node.get("config", {}))
    inner = cfg.pop("source", None) or cfg.pop("inner", None)
    n = cfg.pop("n", None) if inner is not None else None
    k = cfg.pop("k", None) if node["type"] == "vote" else None
    shown = {key: v for key, v in cfg.items() if key in _SHOWN}
    text = node["type"]
    if shown:
        text += "[" + ",".join(f"{key}={_short(v)}" for key, v in sorted(shown.items())) + "]"
    if inner is not None:
        mult = n if isinstance(inner, dict) and "candidates" not in _outputs(inner["type"]) else None
        text += "(" + describe_stack(inner) + (f" x{mult}" if mult else "") + ")"
        if k:
            text = f"vote x{k}(" + describe_stack(inner) + ")"
    return text


_SHOWN = {"temperature", "top_k", "scorer", "fusions", "max_tokens", "adaptive"}


def _short(v: Any) -> str:
    if isinstance(v, dict):
        return str(v.get("type", v))
    return str(v)


def _outputs(kind: str) -> set[str]:
    from .spec import default_registry

    try:
        return set(default_registry().get(kind).Outputs.model_fields)
    except ValueError:
        return set()


def load_space(path: str | Path) -> SearchSpace:
    """Read and validate a search-space YAML/JSON file (SpaceError naming the file and field)."""
    from .spec import read_mapping
    from .validation import describe

    data = read_mapping(path, "search space", SpaceError)
    try:
        return SearchSpace.model_validate(data)
    except ValidationError as e:
        raise SpaceError(f"{path}: invalid search space: {describe(e)}") from None
