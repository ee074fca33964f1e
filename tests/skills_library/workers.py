"""Code run in other processes by the concurrency and crash tests."""

from __future__ import annotations

import sys

from lemmaflow.skills_library import Entry, HashingEmbedder, open_store


def item(i: int) -> Entry:
    return Entry(kind="tool", name=f"f{i}", language="python", source=f"def f{i}(x):\n    return x * {i}\n",
                 statement=f"f{i}(x)", docstring=f"multiply x by {i}", tests=[f"assert f{i}(1) == {i}"])


def add_many(url: str, items: list[int]) -> list[tuple[int, str, int]]:
    """Add items (exact dedupe only: force skips the near check); return (item, outcome, id)."""
    out = []
    with open_store(url, embedder=HashingEmbedder()) as store:
        for i in items:
            r = store.add(item(i), force=True)
            out.append((i, r.outcome, r.id))
    return out


def write_forever(url: str) -> None:
    """Add entries and events in a loop, printing each committed id; runs until killed."""
    with open_store(url, embedder=HashingEmbedder()) as store:
        i = 0
        while True:
            r = store.add(item(i), force=True)
            store.record_event("used", [r.id], run_id="crash", problem_id=str(i))
            print(f"{i} {r.id}", flush=True)
            i += 1


if __name__ == "__main__":
    write_forever(sys.argv[1])
