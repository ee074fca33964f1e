"""The hybrid search's fast path and the IVF index's recall tuning, on both backends.

- The keyword step runs while the vector step does (PostgreSQL: the statement is sent before the
  vector search and read after it; SQLite, when ``overlap_steps`` is turned on: on a worker
  thread, by default only for a long vector step): the answers must be exactly those
  of running the steps one after the other, a write from another connection must still be seen,
  and a failure in the middle must leave the connection usable.
- ``nprobe`` is tuned at build to reach ``recall_target`` on the store's own vectors; uniformly
  random vectors (the hard case: recall 0.16 at the old fixed nprobe) must reach it too.
"""

from __future__ import annotations

import threading
import zlib

import numpy as np
import pytest

from lemmaflow.skills_library import Entry, open_store
from lemmaflow.skills_library.vector_index import FlatIndex, IVFIndex

from .corpus import fill_topics

QUERIES = ["topic3 statement", "topic7 body 19", "statement 4 topic1", "nothing matches this", "topic11"]
FILTERS = [{}, {"kind": "tool"}, {"kind": "lemma", "language": "coq", "status": ["verified", "pending"]}]


def _fill(store, n: int) -> list[int]:
    return fill_topics(store, n, ("verified", "pending", "failed"))


def _answers(store, overlap: bool):
    store.overlap_steps = overlap
    return [[(h.entry.id, h.score, h.keyword_rank, h.vector_rank, h.similarity) for h in store.search(q, k=8, **f)]
            for q in QUERIES for f in FILTERS]


def test_overlapped_hybrid_search_answers_exactly_as_sequential(store):
    _fill(store, 60)
    store.search("warm the index", k=3)  # the first search builds the index (sequential path)
    store.overlap_steps = True
    assert store._can_overlap()
    seq, fast = _answers(store, False), _answers(store, True)
    assert seq == fast
    assert any(any(h[2] is not None and h[3] is not None for h in a) for a in fast)  # both steps contributed


def test_overlapped_search_sees_another_connections_write(store, store_url):
    store.overlap_steps = True  # SQLite's default is sequential; its worker-thread path is tested here
    _fill(store, 30)
    store.search("topic1", k=3)  # index cached at this generation
    other = open_store(store_url, embedder=store.embedder)
    try:
        r = other.add(Entry(kind="tool", name="quokka", language="python", source="quokka marsupial helper",
                            statement="quokka marsupial"), force=True)
    finally:
        other.close()
    hit = store.search("quokka marsupial", k=1)[0]  # overlapped: the vector step ran on the stale index
    assert hit.entry.id == r.id and hit.keyword_rank == 1 and hit.vector_rank == 1  # refreshed and searched again


def test_a_failing_vector_step_leaves_the_connection_usable(store, monkeypatch):
    store.overlap_steps = True
    _fill(store, 20)
    want = [h.entry.id for h in store.search("topic2 statement", k=5)]
    index = store._index

    def boom(*a, **k):
        raise RuntimeError("vector step failed")

    monkeypatch.setattr(index, "search", boom)
    with pytest.raises(RuntimeError, match="vector step failed"):
        store.search("topic2 statement", k=5)
    monkeypatch.undo()
    assert [h.entry.id for h in store.search("topic2 statement", k=5)] == want
    assert store.count() == 20  # and plain statements still work on the connection


def test_auto_overlaps_only_a_vector_step_that_scans_many_rows(store):
    _fill(store, 20)
    store.search("topic1", k=3)
    store.overlap_steps = "auto"
    store.overlap_min_rows = 10**6
    assert not store._can_overlap()  # 20 rows: sequential
    store.overlap_min_rows = store._index.scan_rows
    assert store._can_overlap()
    store.overlap_steps = False
    assert not store._can_overlap()


def test_search_inside_a_transaction_runs_sequentially_without_deadlock(store):
    store.overlap_steps = True
    _fill(store, 10)
    store.search("topic1", k=3)
    got = []

    def inside():
        with store._write():
            assert not store._can_overlap()
            got.append(store.search("topic1 statement", k=3))

    t = threading.Thread(target=inside, daemon=True)
    t.start()
    t.join(timeout=30)
    assert not t.is_alive(), "search inside a transaction hung"
    assert got and got[0]


# --- recall tuning ------------------------------------------------------------------------------

def _random(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _rows(vecs):
    return [(i + 1, "tool", "python", "verified", v) for i, v in enumerate(vecs)]


def _recall(index, flat, queries, **kw):
    return float(np.mean([len({i for i, _ in index.search(q, 10, **kw)} & {i for i, _ in flat.search(q, 10, **kw)})
                          / 10 for q in queries]))


def test_tuning_reaches_the_target_on_random_vectors_and_probes_less_on_clustered_ones():
    pytest.importorskip("faiss")
    dim = 32
    flat = FlatIndex(dim)
    flat.upsert(_rows(_random(6000, dim, 1)))
    queries = _random(200, dim, 2)  # fresh queries, not rows of the index
    untuned = IVFIndex.build(dim, *flat.rows(), recall_target=None)
    assert untuned.nprobe == 32 and untuned.tuned_recall is None
    for target in (0.9, 0.99):
        ivf = IVFIndex.build(dim, *flat.rows(), recall_target=target)
        assert ivf.tuned_recall >= target and ivf.recall_target == target
        assert _recall(ivf, flat, queries) >= target - 0.03  # holds for new queries too (sampling error)
    assert ivf.nprobe > untuned.nprobe  # random data needs more probes than the old fixed 32
    # clustered data: the target is reached with fewer probes than the old default
    rng = np.random.default_rng(3)
    cent = rng.standard_normal((60, dim)).astype(np.float32)
    x = cent[rng.integers(0, 60, 6000)] + 0.2 * rng.standard_normal((6000, dim)).astype(np.float32)
    clustered = FlatIndex(dim)
    clustered.upsert(_rows(x / np.linalg.norm(x, axis=1, keepdims=True)))
    ivf = IVFIndex.build(dim, *clustered.rows())
    assert ivf.nprobe < 32 and ivf.tuned_recall >= 0.95 and not ivf.exact


def test_tuning_falls_back_to_scanning_every_list_when_probing_cannot_reach_the_target():
    pytest.importorskip("faiss")
    dim = 128  # random 128-d rows: no nprobe below half the lists reaches 0.999
    flat = FlatIndex(dim)
    flat.upsert(_rows(_random(3000, dim, 4)))
    ivf = IVFIndex.build(dim, *flat.rows(), recall_target=0.999)
    assert ivf.exact and ivf.nprobe == ivf.nlist and ivf.tuned_recall == 1.0
    queries = _random(30, dim, 5)
    assert _recall(ivf, flat, queries) == 1.0
    assert _recall(ivf, flat, queries, kind="tool", exclude={1, 2, 3}) == 1.0


class _RandomEmbedder:
    """A uniformly random unit vector per text: the hard case for an approximate index."""

    name = "test-random-24"
    dim = 24

    def embed(self, texts):
        return np.stack([_random(1, self.dim, zlib.crc32(t.encode()))[0] for t in texts])


def test_store_with_random_vectors_reaches_the_recall_target_and_keeps_it_on_reopen(store_url, tmp_path,
                                                                                     monkeypatch):
    pytest.importorskip("faiss")
    monkeypatch.setenv("LEMMAFLOW_CACHE", str(tmp_path / "cache"))
    emb = _RandomEmbedder()
    s = open_store(store_url, embedder=emb, ann_min_entries=400, recall_target=0.97)
    try:
        with s._write():  # a quick bulk load: add() would embed and dedupe each row
            for i in range(1200):
                s._exec("INSERT INTO entries (kind, name, language, source, statement, docstring, tests, status, "
                        "evidence, failure_count, created_at, updated_at, content_hash, metadata, embedder, seq, "
                        "embedding) VALUES ('tool', ?, 'python', ?, '', '', '[]', 'verified', '', 0, 0, 0, ?, '{}', "
                        "?, 1, ?)", (f"t{i}", f"body {i}", f"h{i}", emb.name,
                                     emb.embed([f"entry {i}"])[0].astype(np.float32).tobytes()))
            s._exec("UPDATE meta SET value = '1' WHERE key = 'generation'")
        index = s._refresh_index()
        assert isinstance(index, IVFIndex) and index.tuned_recall >= 0.97 and index.recall_target == 0.97
        flat = FlatIndex(emb.dim)
        flat.upsert(_rows([emb.embed([f"entry {i}"])[0] for i in range(1200)]))
        queries = [f"query {j}" for j in range(100)]
        got = [{h.entry.id for h in s.search(q, k=10, mode="vector")} for q in queries]
        want = [{i for i, _ in flat.search(emb.embed([q])[0], 10)} for q in queries]
        recall = np.mean([len(g & w) / 10 for g, w in zip(got, want)])
        assert recall >= 0.94, recall
        nprobe = index.nprobe
    finally:
        s.close()
    # reopened with the same target: the tuned file is used as it is; with another: tuned again
    built = []
    orig_tune = IVFIndex.tune
    monkeypatch.setattr(IVFIndex, "tune", lambda self, *a, **k: built.append(1) or orig_tune(self, *a, **k))
    with open_store(store_url, embedder=emb, ann_min_entries=400, recall_target=0.97) as s2:
        assert s2._refresh_index().nprobe == nprobe and not built
    with open_store(store_url, embedder=emb, ann_min_entries=400, recall_target=0.5) as s3:
        index = s3._refresh_index()
        assert built and index.recall_target == 0.5 and index.nprobe <= nprobe
    with pytest.raises(ValueError, match="recall_target"):
        open_store(store_url, embedder=emb, recall_target=1.5)
