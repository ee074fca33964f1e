"""Skill-library retrieval latency and recall at 1k–1M entries, on SQLite and PostgreSQL.

Synthetic data (said so in every output). Each entry's text is 12-20 words drawn uniformly from a
5,000-word vocabulary. Its vector is 384-d (MiniLM's size) from a CLUSTERED distribution: 2,000
topic centroids, each point = centroid + a draw from a 16-d topic subspace + small isotropic noise,
normalized — real sentence embeddings are clustered like this, with a low intrinsic dimension.
Uniformly random unit vectors are the hard case for any approximate index (every point is nearly
equidistant from every other, so there is no structure for the index to exploit); ``--random``
measures that case. Rows are bulk-loaded straight into the tables. Queries are 3 vocabulary words
plus a fresh vector from the same distribution, so the timings cover the store (full-text query,
vector index, fusion, fetching the hits), not the embedding model.

Reported per backend and size: hybrid (the store's default) / keyword / vector p50 and p95, hybrid
with its two steps one after the other and overlapped (``overlap_steps`` off / on; PostgreSQL's
default is overlapped, SQLite's sequential), recall@10 of the
store's vector step against exact search (numpy over all vectors), the vector index's kind (flat
below ``ann_min_entries``, faiss IVF above, with the ``nprobe`` its tuning chose out of ``nlist``
lists), its build time from the database (k-means, adding the rows, tuning), and the time a
reopened store takes to load the persisted index file.

Results append to a JSON-lines file (``--out``); a (backend, size) already there is skipped, so
the benchmark can run one size/backend at a time and resume. Run 1M last: it takes a while.

Usage::

    .venv/bin/python benchmarks/library_retrieval.py                          # 1k..100k, both backends
    .venv/bin/python benchmarks/library_retrieval.py --sizes 1000000 --backends sqlite
    .venv/bin/python benchmarks/library_retrieval.py --table                  # print the table only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from lemmaflow.skills_library import open_store

DIM = 384
HERE = Path(__file__).resolve().parent


class QueryEmbedder:
    """Vectors for the benchmark's query texts from a table (synthetic queries); random otherwise."""

    name = f"synthetic-{DIM}"
    dim = DIM

    def __init__(self):
        self.table: dict[str, np.ndarray] = {}

    def embed(self, texts):
        out = []
        for t in texts:
            v = self.table.get(t)
            if v is None:
                v = np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(DIM).astype(np.float32)
                v /= np.linalg.norm(v)
            out.append(v)
        return np.stack(out).astype(np.float32)


def vectors(n: int, seed: int, random_: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if random_:
        x = rng.standard_normal((n, DIM), dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    C, sub = 2000, 16
    crng = np.random.default_rng(12345)  # the same topics for entries and queries
    cent = crng.standard_normal((C, DIM), dtype=np.float32)
    cent /= np.linalg.norm(cent, axis=1, keepdims=True)
    basis = crng.standard_normal((C, sub, DIM), dtype=np.float32) / np.sqrt(DIM)
    c = rng.integers(0, C, n)
    out = np.empty((n, DIM), np.float32)
    order = np.argsort(c, kind="stable")
    bounds = np.searchsorted(c[order], np.arange(C + 1))
    for k in range(C):
        ix = order[bounds[k]:bounds[k + 1]]
        if len(ix):
            z = rng.standard_normal((len(ix), sub), dtype=np.float32) * 0.15
            v = cent[k] + z @ basis[k] + rng.standard_normal((len(ix), DIM), dtype=np.float32) * 0.01
            out[ix] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q / 100 * (len(xs) - 1)))]


def bulk_load(store, vecs: np.ndarray, vocab: list[str], rng: random.Random) -> float:
    """Insert the synthetic entries in one transaction, bypassing add() (which embeds and dedupes)."""
    t0 = time.perf_counter()
    now = time.time()
    kinds = ("tool", "lemma")
    cols = ("kind, name, language, source, statement, docstring, tests, status, evidence, failure_count, "
            "created_at, updated_at, content_hash, metadata, embedder, seq, embedding")

    def rows(lo, hi):
        for i in range(lo, hi):
            words = rng.choices(vocab, k=rng.randint(12, 20))
            kind = kinds[i % 2]
            yield (kind, f"{words[0]}_{words[1]}_{i}", "python" if kind == "tool" else "coq",
                   " ".join(words[8:]), " ".join(words[2:5]), " ".join(words[5:8]), "[]", "verified", "", 0,
                   now - rng.random() * 30 * 86400, now, f"synthetic-{i}", "{}", store.embedder.name, 1,
                   vecs[i].tobytes())

    n = len(vecs)
    with store._write():
        if store.dialect == "sqlite":
            store._conn.executemany(f"INSERT INTO entries ({cols}) VALUES ({', '.join('?' * 17)})", rows(0, n))
        else:
            with store._conn.cursor() as cur, cur.copy(f"COPY entries ({cols}) FROM STDIN") as cp:
                for r in rows(0, n):
                    cp.write_row(r)
        store._exec("UPDATE meta SET value = '1' WHERE key = 'generation'")
    # as a maintained database would be: planner statistics, and (PostgreSQL) the GIN pending list
    # merged into the index (VACUUM; autovacuum does it in production), else every query scans it
    store._exec("VACUUM ANALYZE entries" if store.dialect == "postgresql" else "ANALYZE")
    return time.perf_counter() - t0


def measure(store, queries: list[str], k: int = 10) -> dict[str, list[float]]:
    """Latency per mode; the modes take turns on each query (in a rotating order), so load on the
    machine and cold caches hit all alike.
    ``hybrid``: the store's default; ``hybrid_seq`` / ``hybrid_overlap``: with the keyword and vector
    steps one after the other / overlapped (``overlap_steps`` off / on), side by side."""
    default = store.overlap_steps
    lat: dict[str, list[float]] = {"hybrid": [], "hybrid_seq": [], "hybrid_overlap": [], "keyword": [], "vector": []}
    modes = list(lat)
    for j, q in enumerate(queries):
        # the first search of a query pays for its cold pages and caches: rotate which mode goes first
        for mode in modes[j % len(modes):] + modes[:j % len(modes)]:
            xs = lat[mode]
            store.overlap_steps = {"hybrid_seq": False, "hybrid_overlap": True}.get(mode, default)
            t0 = time.perf_counter()
            hits = store.search(q, k=k, mode=mode.split("_")[0])
            xs.append((time.perf_counter() - t0) * 1000)
            assert hits, f"no {mode} hits for {q!r}"
    store.overlap_steps = default
    return lat


def run(backend: str, n: int, nq: int, pg, random_: bool, workdir: Path) -> dict:
    rng = random.Random(n)
    vocab = sorted({"".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(4, 9))) for _ in range(5200)})[:5000]
    t0 = time.perf_counter()
    allv = vectors(n + nq, n, random_)
    vecs, qvecs = allv[:n], allv[n:]
    gen_s = time.perf_counter() - t0
    tag = f"{backend}-{n}{'-random' if random_ else ''}"
    tmp = Path(tempfile.mkdtemp(prefix=f"libbench-{tag}-", dir=workdir))
    url = str(tmp / "lib.db") if backend == "sqlite" else pg.create_database(f"bench_{n}_{int(random_)}")
    emb = QueryEmbedder()
    index_path = tmp / "lib.ivf"
    store = open_store(url, embedder=emb, index_path=index_path)
    try:
        load_s = bulk_load(store, vecs, vocab, rng)
        t0 = time.perf_counter()
        index = store._refresh_index()
        build_s = time.perf_counter() - t0
        store.close()  # reopen: the index comes back from its file (IVF) or the database (flat)
        t0 = time.perf_counter()
        store = open_store(url, embedder=emb, index_path=index_path)
        index = store._refresh_index()
        reopen_s = time.perf_counter() - t0
        queries = [" ".join(rng.choices(vocab, k=3)) for _ in range(nq)]
        emb.table.update(zip(queries, qvecs))
        # recall@10 of the vector step against exact search over every vector
        ids = np.arange(1, n + 1)  # bulk-loaded rows get ids 1..n
        exact = []
        for lo in range(0, nq, 50):
            s = qvecs[lo:lo + 50] @ vecs.T
            exact += [set(ids[np.argpartition(-row, 10)[:10]].tolist()) for row in s]
        got = [set(i for i, _ in index.search(qv, 10)) for qv in qvecs]
        recall = float(np.mean([len(g & e) / 10 for g, e in zip(got, exact)]))
        measure(store, queries[:10])  # warm-up
        res = {"backend": backend, "n": n, "vectors": "random" if random_ else "clustered",
               "index": index.kind, "nprobe": getattr(index, "nprobe", None),
               "nlist": getattr(index, "nlist", None), "recall_at_10": round(recall, 4), "gen_s": round(gen_s, 1),
               "load_s": round(load_s, 1), "index_build_s": round(build_s, 2), "reopen_index_s": round(reopen_s, 2),
               "index_file_mb": round(index_path.stat().st_size / 2**20, 1) if index_path.exists() else None}
        for mode, lat in measure(store, queries).items():
            res[mode] = {"p50_ms": round(pct(lat, 50), 2), "p95_ms": round(pct(lat, 95), 2)}
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if backend == "postgresql":
            import psycopg

            with psycopg.connect(pg.admin_url, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "bench_{n}_{int(random_)}"')
    return res


def table(results: list[dict], nq: int) -> str:
    lines = [f"SYNTHETIC data (random words; {'/'.join(sorted({r['vectors'] for r in results}))} 384-d vectors, "
             f"see the module docstring); {nq} queries, k=10; "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
             "| backend | entries | vectors | index | hybrid p50 | p95 | steps in sequence p50 | overlapped p50 | "
             "keyword p50 | p95 | vector p50 | p95 | recall@10 | index build | reopen (load) | bulk load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (r["vectors"], r["n"], r["backend"])):
        index = r["index"] if not r.get("nprobe") else f"ivf {r['nprobe']}/{r['nlist']}"
        seq = f"{r['hybrid_seq']['p50_ms']} ms" if "hybrid_seq" in r else "–"
        ovl = f"{r['hybrid_overlap']['p50_ms']} ms" if "hybrid_overlap" in r else "–"
        lines.append(
            f"| {r['backend']} | {r['n']:,} | {r['vectors']} | {index} | {r['hybrid']['p50_ms']} ms | "
            f"{r['hybrid']['p95_ms']} ms | {seq} | {ovl} | {r['keyword']['p50_ms']} ms | {r['keyword']['p95_ms']} ms | "
            f"{r['vector']['p50_ms']} ms | {r['vector']['p95_ms']} ms | {r['recall_at_10']} | "
            f"{r['index_build_s']} s | {r['reopen_index_s']} s | {r['load_s']} s |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000", help="comma-separated; add 1000000 last")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("-q", "--queries", type=int, default=200)
    ap.add_argument("--random", action="store_true", help="uniform random vectors (the ANN hard case)")
    ap.add_argument("--out", default=str(HERE / "library_retrieval.jsonl"), help="results (JSON lines), resumable")
    ap.add_argument("--force", action="store_true", help="rerun sizes already in --out")
    ap.add_argument("--table", action="store_true", help="only print the table of --out")
    ap.add_argument("--workdir", default=None, help="where the temporary databases go")
    args = ap.parse_args()
    out = Path(args.out)
    latest = {}  # a rerun (--force) appends; the last line per (backend, size, vectors) counts
    for line in out.read_text().splitlines() if out.exists() else []:
        if line.strip():
            r = json.loads(line)
            latest[(r["backend"], r["n"], r["vectors"])] = r
    done = list(latest.values())
    if not args.table:
        kind = "random" if args.random else "clustered"
        todo = [(b, int(s)) for s in args.sizes.split(",") for b in args.backends.split(",")
                if args.force or not any(r["backend"] == b and r["n"] == int(s) and r["vectors"] == kind for r in done)]
        pg = None
        if any(b == "postgresql" for b, _ in todo):
            from lemmaflow.skills_library.pgserver import LocalPostgres

            pg = LocalPostgres().start()
        workdir = Path(args.workdir or tempfile.gettempdir())
        try:
            for b, n in todo:
                r = run(b, n, args.queries, pg, args.random, workdir)
                print(json.dumps(r), flush=True)
                done = [d for d in done if not (d["backend"] == b and d["n"] == n and d["vectors"] == r["vectors"])]
                done.append(r)
                with open(out, "a") as f:
                    f.write(json.dumps(r) + "\n")
        finally:
            if pg is not None:
                pg.stop()
    print()
    print(table(done, args.queries))


if __name__ == "__main__":
    main()
