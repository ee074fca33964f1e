"""Library growth with many Ray workers on one real PostgreSQL store: no duplicates, everyone sees everyone's entries."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from lemmaflow.cli import resolve_pipeline
from lemmaflow.skills_library import Entry, HashingEmbedder, open_store

from .fakes import fixed, problems

_db = itertools.count()


def entry(i: int) -> Entry:
    """Even i: a Coq lemma; odd i: a Python tool. Each has words no other entry has."""
    if i % 2 == 0:
        return Entry(kind="lemma", name=f"lemma_{i}", language="coq", status="verified",
                     statement=f"forall n : nat, n * {i} = {i} * n",
                     source=f"Lemma lemma_{i} : forall n : nat, n * {i} = {i} * n.\nProof. intros; lia. Qed.",
                     docstring=f"commutativity of multiplication by {i} (marker{i})")
    return Entry(kind="tool", name=f"tool_{i}", language="python", status="verified",
                 source=f"def tool_{i}(x):\n    return x * {i}\n", statement=f"tool_{i}(x)",
                 docstring=f"multiply x by {i} (marker{i})", tests=[f"assert tool_{i}(1) == {i}"])


class LibraryWorker:
    """A Ray actor with its own handle on the shared library, as each RayWorker has."""

    def __init__(self, url: str):
        self.store = open_store(url)  # the embedder is the one the library remembers

    def add(self, items: list[int]) -> list[tuple[int, str, int]]:
        out = []
        for i in items:
            r = self.store.add(entry(i), force=True)
            out.append((i, r.outcome, r.id))
        return out

    def find(self, i: int) -> list[str]:
        kind = "lemma" if i % 2 == 0 else "tool"
        return [h.entry.name for h in self.store.search(f"marker{i} multiplication multiply by {i}", k=3, kind=kind)]

    def size(self) -> int:
        return len(self.store)


def test_ray_workers_grow_one_postgres_library_without_duplicates_and_see_each_other(ray_cluster, pg_server):
    ray = ray_cluster["ray"]
    url = pg_server.create_database(f"ray{next(_db)}")
    open_store(url, embedder=HashingEmbedder()).close()  # created once, like a deployment
    actor = ray.remote(LibraryWorker).options(num_cpus=0.25)
    workers = [actor.remote(url) for _ in range(3)]
    # Worker w adds items 10w .. 10w+19 (mod 30): every item is added by two workers at about the same time.
    plans = [[(10 * w + j) % 30 for j in range(20)] for w in range(3)]
    results = ray.get([w.add.remote(p) for w, p in zip(workers, plans)])
    flat = [r for rs in results for r in rs]
    added = [i for i, outcome, _ in flat if outcome == "added"]
    assert sorted(added) == list(range(30))  # each entry added exactly once
    assert {outcome for _, outcome, _ in flat} == {"added", "duplicate"}
    ids: dict[int, int] = {}
    for i, _, id_ in flat:
        assert ids.setdefault(i, id_) == id_  # both writers agree on the entry's id
    assert ray.get([w.size.remote() for w in workers]) == [30, 30, 30]
    # Each worker retrieves entries that only the others added (worker 0 never added items 20..29).
    for w, plan in zip(workers, plans):
        others = [i for i in range(30) if i not in plan]
        assert others
        for i in others[:4]:
            names = ray.get(w.find.remote(i))
            assert names and names[0] == entry(i).name, (i, names)
    with open_store(url) as store:
        assert len(store) == 30 and store.integrity_check() == []
    for w in workers:
        ray.kill(w)


def test_solve_workers_record_their_problems_in_the_shared_library(ray_cluster, pg_server, tmp_path):
    from lemmaflow.agents.distributed import RayBatchRunner, RayWorkerPool, WorkerSetup

    url = pg_server.create_database(f"ray{next(_db)}")
    open_store(url, embedder=HashingEmbedder()).close()
    pool = RayWorkerPool(WorkerSetup(generator=fixed(0.02), library=url), workers=2, num_cpus_per_worker=0.25).start()
    try:
        runner = RayBatchRunner(resolve_pipeline("cot", {}), pool, out_path=tmp_path / "r.jsonl", concurrency=2,
                                run_id="rayrun")
        assert asyncio.run(runner.run(problems(10))).done == 10
    finally:
        pool.close()
    with open_store(url) as store:
        stats = store.stats()
        assert stats.problems_recorded == 10 and stats.problems_solved == 10
        assert {e.run_id for e in store.events(event="problem_solved")} == {"rayrun"}
