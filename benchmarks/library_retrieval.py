"""Skill-library retrieval latency at 1k, 10k and 100k entries, on SQLite and PostgreSQL.

Synthetic data (said so in every output): each entry's text is 12-20 words drawn uniformly from
a 5,000-word vocabulary, and its vector is a random unit vector of 384 dims (MiniLM's size),
bulk-loaded straight into the tables. Queries are 3 vocabulary words plus a random unit vector,
so the timings cover the store (full-text query, vector index, fusion, fetching the hits) and
not the embedding model; the MiniLM query-embedding time is measured separately when the model
is installed. The vector index is the store's exact flat index (numpy matrix-vector product over
the cached normalized float32 matrix); its one-time load from the database is reported apart.

Usage::

    .venv/bin/python benchmarks/library_retrieval.py                       # both backends, 1k/10k/100k
    .venv/bin/python benchmarks/library_retrieval.py --sizes 1000 --backends sqlite -q 50
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from lemmaflow.skills_library import open_store

DIM = 384


class RandomEmbedder:
    """Random unit vectors (synthetic queries); deterministic per text."""

    name = f"synthetic-random-{DIM}"
    dim = DIM

    def embed(self, texts):
        out = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(DIM) for t in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q / 100 * (len(xs) - 1)))]


def bulk_load(store, n: int, vocab: list[str], rng: random.Random, nrng: np.random.Generator) -> float:
    """Insert n synthetic entries in one transaction, bypassing add() (which embeds and dedupes)."""
    t0 = time.perf_counter()
    vecs = nrng.standard_normal((n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    now = time.time()
    rows = []
    kinds = ("tool", "lemma")
    for i in range(n):
        words = rng.choices(vocab, k=rng.randint(12, 20))
        kind = kinds[i % 2]
        rows.append((kind, f"{words[0]}_{words[1]}_{i}", "python" if kind == "tool" else "coq",
                     " ".join(words[8:]), " ".join(words[2:5]), " ".join(words[5:8]), "[]", "verified", "", 0,
                     now - rng.random() * 30 * 86400, now, f"synthetic-{i}", "{}", store.embedder.name, 1,
                     vecs[i].tobytes()))
    sql = ("INSERT INTO entries (kind, name, language, source, statement, docstring, tests, status, evidence, "
           "failure_count, created_at, updated_at, content_hash, metadata, embedder, seq, embedding) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    with store._write():
        if store.dialect == "sqlite":
            store._conn.executemany(sql, rows)
        else:
            with store._conn.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)
        store._exec("UPDATE meta SET value = '1' WHERE key = 'generation'")
    if store.dialect == "postgresql":
        store._exec("ANALYZE entries")
    else:
        store._exec("ANALYZE")
    return time.perf_counter() - t0


def measure(store, queries: list[str], mode: str, k: int = 10) -> list[float]:
    lat = []
    for q in queries:
        t0 = time.perf_counter()
        hits = store.search(q, k=k, mode=mode)
        lat.append((time.perf_counter() - t0) * 1000)
        assert hits, f"no hits for {q!r}"
    return lat


def run(backend: str, n: int, nq: int, pg=None) -> dict:
    rng, nrng = random.Random(n), np.random.default_rng(n)
    vocab = sorted({"".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(4, 9))) for _ in range(5200)})[:5000]
    tmp = tempfile.mkdtemp(prefix="libbench-")
    url = str(Path(tmp) / "lib.db") if backend == "sqlite" else pg.create_database(f"bench{n}")
    store = open_store(url, embedder=RandomEmbedder())
    load_s = bulk_load(store, n, vocab, rng, nrng)
    t0 = time.perf_counter()
    store._refresh_index()
    index_load_ms = (time.perf_counter() - t0) * 1000
    queries = [" ".join(rng.choices(vocab, k=3)) for _ in range(nq)]
    measure(store, queries[:10], "hybrid")  # warm-up
    res = {"backend": backend, "n": n, "load_s": round(load_s, 2), "index_load_ms": round(index_load_ms, 1)}
    for mode in ("hybrid", "keyword", "vector"):
        lat = measure(store, queries, mode)
        res[mode] = {"p50_ms": round(pct(lat, 50), 2), "p95_ms": round(pct(lat, 95), 2)}
    store.close()
    return res


def minilm_query_ms(nq: int = 50) -> dict | None:
    try:
        from lemmaflow.skills_library import MiniLMEmbedder

        e = MiniLMEmbedder()
        e.embed(["warm up"])
    except ImportError:
        return None
    lat = []
    for i in range(nq):
        t0 = time.perf_counter()
        e.embed([f"greatest common divisor of a list of integers, variant {i}"])
        lat.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(pct(lat, 50), 2), "p95_ms": round(pct(lat, 95), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("-q", "--queries", type=int, default=200)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = args.backends.split(",")
    pg = None
    if "postgresql" in backends:
        from lemmaflow.skills_library.pgserver import LocalPostgres

        pg = LocalPostgres().start()
    results = []
    try:
        for b in backends:
            for n in sizes:
                r = run(b, n, args.queries, pg)
                results.append(r)
                print(json.dumps(r), flush=True)
    finally:
        if pg is not None:
            pg.stop()
    mini = minilm_query_ms()
    print(f"\nSYNTHETIC data (random words, random 384-d unit vectors); {args.queries} queries, k=10; "
          f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} CPUs")
    print("| backend | entries | hybrid p50 | p95 | keyword p50 | p95 | vector p50 | p95 | index load | bulk load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['backend']} | {r['n']:,} | {r['hybrid']['p50_ms']} ms | {r['hybrid']['p95_ms']} ms | "
              f"{r['keyword']['p50_ms']} ms | {r['keyword']['p95_ms']} ms | {r['vector']['p50_ms']} ms | "
              f"{r['vector']['p95_ms']} ms | {r['index_load_ms']} ms | {r['load_s']} s |")
    if mini:
        print(f"\nMiniLM query embedding (CPU, one query): p50 {mini['p50_ms']} ms, p95 {mini['p95_ms']} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "minilm_query": mini}, indent=2))


if __name__ == "__main__":
    main()
