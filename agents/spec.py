"""Pipelines from YAML/JSON specs, validated with pydantic.

A spec names nodes by registered ``type``; a :class:`NodeRegistry` maps types to
classes. Registries are plain objects passed explicitly: ``default_registry()``
returns a fresh one with the built-in nodes, to which you can add your own.

Example spec (``examples/pipelines/sc.yaml``)::

    name: sc
    inputs: {question: str}
    nodes:
      - {name: sc, type: self_consistency, config: {n: 8, temperature: 0.7}}
    edges:
      - {from: input.question, to: sc.question}
    output: sc

Example::

    from lemmaflow.agents.spec import load_pipeline
    pipe = load_pipeline("examples/pipelines/sc.yaml")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .backends.factory import ModelSpec
from .graph import Pipeline, PipelineError
from .registry import NodeRegistry, SpecError, default_registry
from .validation import describe, one_line

__all__ = [
    "EdgeSpec",
    "NodeRegistry",
    "NodeSpec",
    "PipelineSpec",
    "SpecError",
    "build_pipeline",
    "default_registry",
    "load_pipeline",
    "read_spec",
]

_TYPES: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool, "list[str]": list[str]}


class NodeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    type: str
    config: dict[str, Any] = Field(default_factory=dict)


class EdgeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from")
    to: str


class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "pipeline"
    inputs: dict[str, Literal["str", "int", "float", "bool", "list[str]"]] = Field(
        default_factory=lambda: {"question": "str"}
    )
    nodes: list[NodeSpec] = Field(min_length=1)
    edges: list[EdgeSpec] = Field(default_factory=list)
    output: str | None = None
    # Named models besides the generator (role -> how to build it), e.g.
    # {verifier: {kind: openai, model: ..., base_url: ...}, prm: {kind: vllm_reward, model: ...}}.
    models: dict[str, ModelSpec] = Field(default_factory=dict)


def build_pipeline(spec: PipelineSpec | dict, registry: NodeRegistry | None = None) -> Pipeline:
    registry = registry or default_registry()
    if isinstance(spec, dict):
        try:
            spec = PipelineSpec.model_validate(spec)
        except ValidationError as e:
            raise SpecError(f"invalid pipeline spec: {describe(e)}") from None
    pipe = Pipeline(inputs={k: _TYPES[v] for k, v in spec.inputs.items()}, name=spec.name)
    for ns in spec.nodes:
        cls = registry.get(ns.type)
        try:
            node = cls(ns.config)
        except ValidationError as e:
            raise SpecError(f"node {ns.name!r} ({ns.type}): invalid config: {describe(e)}") from None
        except SpecError as e:  # a node it holds (vote's inner, a layer's source) names an unknown type
            raise SpecError(f"node {ns.name!r} ({ns.type}): {e}") from None
        except (ValueError, TypeError) as e:  # the node refused its config (e.g. an inner node without `answer`)
            raise SpecError(f"node {ns.name!r} ({ns.type}): {one_line(str(e))}") from None
        pipe.add(ns.name, node)
    for es in spec.edges:
        pipe.connect(es.from_, es.to)
    if spec.output:
        pipe.set_output(spec.output)
    pipe.model_specs = dict(spec.models)
    pipe.validate()
    return pipe


def read_mapping(path: str | Path, what: str, error: type[Exception]) -> dict:
    """The raw mapping of a ``.yaml``/``.yml``/``.json`` config file (not yet validated).

    ``what`` names the file's kind in messages ("pipeline spec", "search space"); every failure
    (unreadable, not YAML/JSON, not a mapping) raises ``error`` naming the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise error(f"cannot read {what} {path}: {one_line(str(e))}") from None
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text (byte {e.start})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as e:
        raise error(f"{path}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from None
    except yaml.YAMLError as e:  # one line: file:line:column and the problem, without the source excerpt
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(e, "problem", None) or getattr(e, "context", None) or str(e)
        raise error(f"{where}: not valid YAML: {one_line(str(problem))}") from None
    except RecursionError:
        raise error(f"{path}: nested too deeply to read") from None
    if not isinstance(data, dict):
        raise error(f"{path}: a {what} must be a mapping, got {type(data).__name__}")
    return data


def read_spec(path: str | Path) -> dict:
    """The raw mapping of a ``.yaml``/``.yml``/``.json`` spec file (not yet validated)."""
    return read_mapping(path, "pipeline spec", SpecError)


def load_pipeline(path: str | Path, registry: NodeRegistry | None = None) -> Pipeline:
    """Load a ``.yaml``/``.yml``/``.json`` spec file into a validated pipeline."""
    path = Path(path)
    data = read_spec(path)
    try:
        return build_pipeline(data, registry)
    except (SpecError, PipelineError) as e:
        raise type(e)(f"{path}: {e}") from e
