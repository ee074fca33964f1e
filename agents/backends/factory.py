"""Named models from specs: ``ModelSpec`` and the ``ROLE=KIND[:MODEL][@URL]`` CLI form.

A run may use several models (a generator plus a verifier LLM, a process reward
model, ...). Each is described by a :class:`ModelSpec` — in a pipeline spec's
``models:`` section, or on the command line with ``--model-for`` — and built by
:func:`make_model`. ``same`` reuses the generator instead of loading anything.

Kinds:

- ``embedded`` — SmolLM2-135M on vLLM's CPU build;
- ``vllm`` — in-process vLLM on ``model``;
- ``openai`` — an OpenAI-compatible server at ``base_url`` serving ``model``;
  several servers: a list (``base_url: [http://a:8000/v1, http://b:8000/v1]``)
  or ``openai:MODEL@URL1,URL2`` — least-loaded routing with failover;
- ``vllm_reward`` / ``http_reward`` — a process reward model on vLLM's pooling
  runner, in-process or behind a server's pooling endpoint
  (:mod:`lemmaflow.agents.scorers`); ``vllm_reward:embedded`` is the embedded
  SmolLM2 as a stand-in PRM (CPU, meaningless scores); an ``http_reward`` URL
  is the server root (``http://host:8000``, where vLLM mounts ``/pooling``);
- ``same`` — the generator itself.

Example::

    from lemmaflow.agents.backends.factory import parse_model_arg

    role, spec = parse_model_arg("verifier=openai:Qwen/Qwen2.5-7B-Instruct@http://127.0.0.1:8001/v1")
    assert role == "verifier" and spec.kind == "openai" and spec.base_url.endswith(":8001/v1")

    # several servers for one role, comma-separated
    role, spec = parse_model_arg("verifier=openai:m@http://10.0.0.1:8000/v1,http://10.0.0.2:8000/v1")
    assert spec.base_url == ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"]
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..validation import describe

__all__ = ["ModelSpec", "make_model", "parse_model_arg"]

ModelKind = Literal["embedded", "vllm", "openai", "vllm_reward", "http_reward", "same"]
_NEEDS_MODEL = ("vllm", "openai", "vllm_reward", "http_reward")


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ModelKind
    model: str | None = None
    base_url: str | list[str] | None = None  # a list (or comma-separated): several servers (kind openai)
    api_key: str | None = None
    seed: int = 0
    options: dict[str, Any] = Field(default_factory=dict)  # passed to the backend's config

    @model_validator(mode="after")
    def _needs_model(self) -> "ModelSpec":
        # Fail when the spec is read, not after the generator has loaded.
        if self.kind in _NEEDS_MODEL and not self.model:
            raise ValueError(f"model kind {self.kind!r} needs a model name or path (KIND:MODEL)")
        return self


def parse_model_arg(text: str) -> tuple[str, ModelSpec]:
    """``ROLE=KIND[:MODEL][@BASE_URL]`` or ``ROLE={json ModelSpec}`` -> (role, spec)."""
    role, sep, rest = text.partition("=")
    role = role.strip()
    if not sep or not role or not rest:
        raise ValueError(f"--model-for expects ROLE=KIND[:MODEL][@URL], got {text!r}")
    try:
        if rest.lstrip().startswith("{"):
            return role, ModelSpec.model_validate(json.loads(rest))
        url = None
        if "@" in rest:
            rest, url = rest.split("@", 1)
        kind, _, model = rest.partition(":")
        urls = [u.strip() for u in url.split(",") if u.strip()] if url else []
        return role, ModelSpec(kind=kind, model=model or None,
                               base_url=urls[0] if len(urls) == 1 else (urls or None))
    except ValidationError as e:
        raise ValueError(f"--model-for {text!r}: {describe(e)}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"--model-for {text!r}: not valid JSON: {e}") from None


def make_model(spec: ModelSpec, generator: Any = None) -> Any:
    """Build (and start) the backend or reward model a spec describes."""
    if spec.kind == "same":
        if generator is None:
            raise ValueError("model kind 'same' needs the generator")
        return generator
    if spec.kind == "embedded":
        from .embedded import make_embedded_backend

        return make_embedded_backend(seed=spec.seed, **spec.options)
    if spec.kind == "vllm":
        from .vllm_engine import VLLMBackend, VLLMConfig

        return VLLMBackend(VLLMConfig(model=spec.model, seed=spec.seed, **spec.options))
    if spec.kind == "openai":
        from .openai_client import OpenAIBackend, OpenAIConfig

        return OpenAIBackend(OpenAIConfig(model=spec.model, base_url=spec.base_url or "http://127.0.0.1:8000/v1",
                                          api_key=spec.api_key, **spec.options))
    if spec.kind == "vllm_reward":
        from ..scorers.vllm_reward import VLLMRewardModel

        return VLLMRewardModel.from_spec(spec)
    from ..scorers.http_reward import HTTPRewardModel

    return HTTPRewardModel.from_spec(spec)
