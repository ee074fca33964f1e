"""LLM backends: one small protocol, several real implementations.

- :class:`VLLMBackend` — in-process vLLM (CUDA or CPU build), continuous batching.
- :func:`make_embedded_backend` — SmolLM2-135M on vLLM's CPU build, no network.
- :class:`OpenAIBackend` — any OpenAI-compatible server (e.g. ``vllm serve``).
- :class:`CoalescingBackend` — wraps any backend; concurrent calls become one call.
- :class:`ScriptedLM` — a scripted fake for orchestration tests only.
- :class:`SteppedLM` — a ScriptedLM timed like a continuous-batching engine (scheduler measures, never results).

vLLM itself is imported only when an engine is built.
"""

from .base import (
    BackendError,
    BackendUnavailable,
    ChatMessage,
    ChatPrompt,
    Completion,
    Generation,
    LLMBackend,
    Prompt,
    SamplingParams,
    prompt_key,
)
from .coalesce import CoalescingBackend
from .embedded import EMBEDDED_MODEL_ID, make_embedded_backend, prepare_embedded_model
from .fake import FailingLM, ScriptedLM
from .stepped import SteppedLM, StepStats
from .openai_client import OpenAIBackend, OpenAIConfig
from .vllm_engine import VLLMBackend, VLLMConfig

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "ChatMessage",
    "ChatPrompt",
    "CoalescingBackend",
    "Completion",
    "EMBEDDED_MODEL_ID",
    "FailingLM",
    "Generation",
    "LLMBackend",
    "OpenAIBackend",
    "OpenAIConfig",
    "Prompt",
    "SamplingParams",
    "ScriptedLM",
    "StepStats",
    "SteppedLM",
    "VLLMBackend",
    "VLLMConfig",
    "make_embedded_backend",
    "prepare_embedded_model",
    "prompt_key",
]
