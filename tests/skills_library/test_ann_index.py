"""The approximate (faiss IVF) vector index: recall against exact search, filters, incremental
updates, and the persisted index file (reloaded, never trusted when stale or corrupt) — on both
backends, through the public store API."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

from lemmaflow.skills_library import Entry, open_store
from lemmaflow.skills_library.vector_index import FlatIndex, IVFIndex

from .corpus import fill_topics

pytest.importorskip("faiss")

DIM = 32


def _clustered(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cent = np.random.default_rng(7).standard_normal((40, DIM)).astype(np.float32)
    x = cent[rng.integers(0, 40, n)] + 0.35 * rng.standard_normal((n, DIM)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _rows(vecs, start=1):
    return [(start + i, ("lemma", "tool")[i % 2], ("coq", "python")[i % 2], ("verified", "pending", "failed")[i % 3],
             v) for i, v in enumerate(vecs)]


def test_ivf_recall_and_filters_match_exact_search():
    vecs, queries = _clustered(4000, 1), _clustered(100, 2)
    flat = FlatIndex(DIM)
    flat.upsert(_rows(vecs))
    ivf = IVFIndex.build(DIM, *flat.rows(), nprobe=8)
    assert len(ivf) == 4000 and ivf.nlist > 8
    recall = np.mean([len({i for i, _ in ivf.search(q, 10)} & {i for i, _ in flat.search(q, 10)}) / 10
                      for q in queries])
    assert recall >= 0.95, recall
    # filters: a broad one keeps recall, a very selective one (plus exclusions) is exact
    for kw in ({"kind": "tool"}, {"kind": "tool", "status": ["verified", "failed"]},
               {"language": "coq", "status": "failed", "exclude": set(range(1, 400))}):
        for q in queries[:20]:
            got, want = ivf.search(q, 10, **kw), flat.search(q, 10, **kw)
            assert all(i % 2 == (0 if kw["kind" if "kind" in kw else "language"] in ("tool", "python") else 1)
                       for i, _ in got)
            assert not set(kw.get("exclude", ())) & {i for i, _ in got}
            assert len({i for i, _ in got} & {i for i, _ in want}) >= 9
    sel = {"language": "coq", "status": "failed", "exclude": set(range(1, 400))}
    assert [i for i, _ in ivf.search(queries[0], 10, **sel)] == [i for i, _ in flat.search(queries[0], 10, **sel)]


def test_ivf_incremental_add_change_remove_and_file_roundtrip(tmp_path):
    vecs = _clustered(1000, 3)
    flat = FlatIndex(DIM)
    flat.upsert(_rows(vecs))
    ivf = IVFIndex.build(DIM, *flat.rows())
    new = _clustered(1, 9)[0]
    ivf.upsert([(5000, "tool", "python", "verified", new)])  # add
    assert ivf.search(new, 1)[0][0] == 5000
    ivf.upsert([(5000, "lemma", "coq", "verified", vecs[0])])  # change: vector and kind
    assert 5000 not in {i for i, _ in ivf.search(new, 3)}
    assert ivf.search(vecs[0], 2, kind="lemma")[0][1] == pytest.approx(1.0, abs=1e-5)
    assert ivf.remove([5000, 1]) == 2 and len(ivf) == 999  # remove
    assert not {1, 5000} & {i for i, _ in ivf.search(vecs[0], 5)}
    path = tmp_path / "x.ivf"
    ivf.save(path, {"generation": 3})
    back, header = IVFIndex.load(path)
    assert header["generation"] == 3 and len(back) == 999
    assert back.search(vecs[5], 5) == ivf.search(vecs[5], 5)


class _Embedder:
    """Deterministic clustered vectors per text (a real embedder would do; this one is fast)."""

    name = "test-clustered-32"
    dim = DIM

    def embed(self, texts):
        out = []
        for t in texts:
            topic = next((w for w in t.split() if re.fullmatch(r"topic\d+|zebra|walrus|okapi", w)), t)
            c = np.random.default_rng(zlib.crc32(topic.encode())).standard_normal(DIM)
            v = c + 0.2 * np.random.default_rng(zlib.crc32(t.encode())).standard_normal(DIM)
            out.append(v / np.linalg.norm(v))
        return np.array(out, dtype=np.float32)


def _fill(store, n: int) -> list[int]:
    return fill_topics(store, n, ("verified",))


@pytest.fixture
def big_store(store_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LEMMAFLOW_CACHE", str(tmp_path / "cache"))
    s = open_store(store_url, embedder=_Embedder(), ann_min_entries=150)
    yield s
    s.close()


def test_store_switches_to_ivf_by_size_and_sees_updates(big_store, store_url):
    s = big_store
    ids = _fill(s, 120)
    assert isinstance(s._refresh_index(), FlatIndex)  # small: exact
    ids += _fill_more(s, 120, 200)
    index = s._refresh_index()
    assert isinstance(index, IVFIndex) and len(index) == 200
    assert s.index_path is not None and s.index_path.exists()
    # change: the new text is found by vector search; the old one no longer
    s.update(ids[7], statement="zebra unique statement", source="zebra unique source")
    hit = s.search("zebra unique statement", k=1, mode="vector")[0]
    assert hit.entry.id == ids[7] and hit.similarity > 0.9
    # remove: gone from every mode; add: visible at once
    s.remove(ids[7])
    assert ids[7] not in {h.entry.id for h in s.search("zebra unique statement", k=10, mode="vector")}
    r = s.add(Entry(kind="tool", name="fresh", language="python", source="walrus fresh", statement="walrus fresh"),
              force=True)
    assert s.search("walrus fresh", k=1, mode="vector")[0].entry.id == r.id
    # filters through the store
    hits = s.search("topic3 statement", k=10, kind="tool", status="verified", mode="vector")
    assert hits and all(h.entry.kind == "tool" and h.entry.status == "verified" for h in hits)
    # another connection's writes are seen too
    other = open_store(store_url, embedder=_Embedder())
    try:
        r2 = other.add(Entry(kind="lemma", name="other", language="coq", source="okapi other", statement="okapi"),
                       force=True)
    finally:
        other.close()
    assert s.search("okapi other", k=1, mode="vector")[0].entry.id == r2.id


def _fill_more(store, lo: int, hi: int) -> list[int]:
    out = []
    for i in range(lo, hi):
        r = store.add(Entry(kind="lemma", name=f"e{i}", language="coq", source=f"topic{i % 12} body {i}",
                            statement=f"topic{i % 12} statement {i}", status="verified"), force=True)
        out.append(r.id)
    return out


def test_reopen_loads_the_index_file_and_rejects_stale_or_corrupt_ones(big_store, store_url, tmp_path, monkeypatch):
    s = big_store
    _fill(s, 200)
    s._refresh_index()
    path = s.index_path
    s.close()
    before = path.stat().st_mtime_ns

    def reopen():
        return open_store(store_url, embedder=_Embedder(), ann_min_entries=150)

    built, orig_build = [], IVFIndex.build
    monkeypatch.setattr(IVFIndex, "build", classmethod(lambda cls, *a, **k: built.append(1) or orig_build(*a, **k)))
    # loaded from the file, no rebuild
    s2 = reopen()
    assert isinstance(s2._refresh_index(), IVFIndex) and not built and len(s2._index) == 200
    # stale: rows written by another process after the file was saved are caught up incrementally
    s3 = reopen()
    _fill_more(s3, 300, 311)
    assert s3.remove(1)  # a removal the file does not know about either
    s3._index = None  # forget in-memory state; closing must not save a newer file for this check
    s3.close()
    s2.close()
    s4 = reopen()
    assert len(s4._refresh_index()) == 210 and not built
    assert 1 not in {h.entry.id for h in s4.search("topic1 statement 0", k=20, mode="vector")}
    s4.close()
    assert path.stat().st_mtime_ns >= before
    # corrupt: flipped bytes -> rebuilt from the database, never trusted
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    s5 = reopen()
    assert len(s5._refresh_index()) == 210 and built
    s5.close()
    # a file ahead of the database (e.g. the database restored from a backup) is not used
    import json as _json

    raw = path.read_bytes()
    hlen = int.from_bytes(raw[8:16], "little")
    header = _json.loads(raw[16:16 + hlen])
    header["generation"] += 1000
    hb = _json.dumps(header).encode()
    path.write_bytes(raw[:8] + len(hb).to_bytes(8, "little") + hb + raw[16 + hlen:])
    built.clear()
    s6 = reopen()
    assert len(s6._refresh_index()) == 210 and built
    s6.close()
    # a file from another library is not used either
    built.clear()
    other_url = store_url + "_x" if "postgresql" in store_url else f"sqlite:///{tmp_path / 'other.db'}"
    if "postgresql" not in store_url:
        import shutil

        shutil.copy(path, tmp_path / "other.db.ivf")
        o = open_store(other_url, embedder=_Embedder(), ann_min_entries=150)
        _fill(o, 10)
        assert isinstance(o._refresh_index(), FlatIndex) and len(o._index) == 10
        o.close()



def test_bounded_keyword_step_keeps_all_word_matches_first_and_filters(store):
    """Past ``keyword_candidates`` matches the keyword step ranks the all-words rows plus a bounded
    set of any-word rows: the best row (all words, added first, so outside the newest-rows window)
    still comes first, and filters still hold."""
    from lemmaflow.skills_library import Entry

    best = store.add(Entry(kind="lemma", name="both", language="coq", source="common rare words",
                           statement="common rare"), force=True).id
    for i in range(30):
        kind = ("lemma", "tool")[i % 2]
        store.add(Entry(kind=kind, name=f"c{i}", language="coq" if kind == "lemma" else "python",
                        source=f"common filler {i}", statement=f"common {i}"), force=True)
    exact = [h.entry.id for h in store.search("common rare", k=8, mode="keyword")]
    store.keyword_candidates = 5
    bounded = [h.entry.id for h in store.search("common rare", k=8, mode="keyword")]
    assert exact[0] == best and bounded[0] == best and len(bounded) == 8
    tools = store.search("common rare", k=4, mode="keyword", kind="tool")
    assert len(tools) == 4 and all(h.entry.kind == "tool" for h in tools)
