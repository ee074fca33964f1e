"""Several processes adding at once, and a writer killed with SIGKILL mid-write, on both backends."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lemmaflow.skills_library import HashingEmbedder, content_hash, open_store

from .workers import add_many, item

ROOT = Path(__file__).resolve().parents[2]


def test_parallel_writers_lose_nothing_and_duplicate_nothing(store_url):
    open_store(store_url, embedder=HashingEmbedder()).close()  # create the schema once, like a deployment
    # 4 processes x 50 adds; worker w adds items 25w .. 25w+49 (mod 100): every item is added by two workers.
    plans = [[(25 * w + j) % 100 for j in range(50)] for w in range(4)]
    with mp.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(add_many, [(store_url, p) for p in plans])
    flat = [r for rs in results for r in rs]
    assert len(flat) == 200
    added = [r for r in flat if r[1] == "added"]
    assert len(added) == 100 and sorted(i for i, *_ in added) == list(range(100))
    assert all(outcome in ("added", "duplicate") for _, outcome, _ in flat)
    ids = {}
    for i, _, id_ in flat:  # both writers of an item agree on its id
        assert ids.setdefault(i, id_) == id_
    with open_store(store_url) as store:
        assert len(store) == 100
        assert store.integrity_check() == []
        for i in (0, 37, 99):
            e = store.get(ids[i])
            assert e.name == f"f{i}" and e.content_hash == content_hash("tool", "python", item(i).source, e.statement)


def test_kill_9_mid_write_leaves_the_store_consistent(store_url):
    open_store(store_url, embedder=HashingEmbedder()).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.skills_library.workers", store_url], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    committed: dict[int, int] = {}
    deadline = time.monotonic() + 60
    try:
        while len(committed) < 40 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            i, id_ = map(int, line.split())
            committed[i] = id_
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-loop: very likely inside a transaction
        proc.wait(timeout=30)
    # the worker may have run ahead of this reader (a loaded machine): every line it printed before
    # the kill is a committed entry too, still in the pipe
    for line in proc.stdout.read().splitlines():
        if line.strip():
            i, id_ = map(int, line.split())
            committed[i] = id_
    assert len(committed) >= 40, proc.stderr.read()
    with open_store(store_url) as store:
        assert store.integrity_check() == []
        n = len(store)
        assert n in (len(committed), len(committed) + 1)  # at most the one after the last print
        for i, id_ in committed.items():  # committed entries intact
            e = store.get(id_)
            assert e is not None and e.source == item(i).source and e.tests == item(i).tests
        for e in store.list():  # no partial entry: every row complete and findable
            assert e.source and e.statement and e.content_hash
            assert any(h.entry.id == e.id for h in store.search(e.docstring, k=3, mode="keyword"))
        # the store still takes writes
        assert store.add(item(10_000), force=True).outcome == "added"
