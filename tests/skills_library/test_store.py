"""The store API on both backends (parametrized in conftest): dedupe, updates, retrieval, events, stats."""

from __future__ import annotations

import pytest

from lemmaflow.skills_library import (
    EmbedderMismatchError, Entry, HashingEmbedder, Provenance, SchemaTooNewError, StoreError, open_store,
)

from .corpus import KNOWN, corpus


def tool(name="inc", body="return x + 1", **kw) -> Entry:
    return Entry(kind="tool", name=name, language="python", source=f"def {name}(x):\n    {body}\n",
                 statement=f"{name}(x)", docstring=kw.pop("docstring", "add one to x"), **kw)


def test_add_then_exact_duplicate_modulo_layout_and_comments(store):
    r = store.add(tool(provenance=Provenance(problem_id="p1", run_id="r1", model="m")))
    assert r.outcome == "added" and r.id is not None and r.written
    again = store.add(tool(body="return (x +  1)   # same thing"))
    assert again.outcome == "duplicate" and again.id == r.id and not again.written
    assert len(store) == 1
    e = store.get(r.id)
    assert e.provenance.problem_id == "p1" and e.provenance.model == "m" and e.content_hash == r.content_hash


def test_near_duplicate_needs_confirmation_then_caller_decides(store):
    first = store.add(tool(status="verified"))
    near = tool(body="return 1 + x")  # different code, same name/signature/docstring -> same embedding text
    r = store.add(near)
    assert r.outcome == "needs_confirmation" and r.id is None
    assert [c.id for c in r.candidates] == [first.id] and r.candidates[0].similarity >= store.near_threshold
    assert len(store) == 1  # nothing written
    seen = []
    r = store.add(near, confirm=lambda new, old: seen.append((new.source, old.id)) or True)
    assert r.outcome == "near_duplicate" and r.id == first.id and seen == [(near.source, first.id)]
    r = store.add(near, confirm=lambda new, old: False)
    assert r.outcome == "added" and r.id != first.id and len(store) == 2


def test_force_skips_near_check_and_unrelated_entries_are_not_candidates(store):
    store.add(tool(status="verified"))
    assert store.add(tool(body="return 1 + x"), force=True).outcome == "added"
    other = tool(name="binomial", body="return 1", docstring="n choose k")
    assert store.near_duplicates(other) == []


def test_failed_demoted_and_requested_entries_never_block_a_new_one(store):
    r = store.add(tool(status="failed"))
    assert store.add(tool(body="return 1 + x")).outcome == "added"
    req = store.add(Entry(kind="lemma", name="l", language="coq", statement="forall n, n + 0 = n", status="requested"))
    proved = Entry(kind="lemma", name="l", language="coq", statement="forall n, n + 0 = n", status="verified",
                   source="Lemma l : forall n, n + 0 = n. Proof. lia. Qed.")
    assert store.add(proved).outcome == "added"
    assert store.get(req.id).status == "requested" and store.get(r.id).status == "failed"


def test_list_count_filters_and_find_by_name(store):
    for e in corpus():
        assert store.add(e).outcome == "added"
    assert store.count() == 12 and store.count(kind="tool") == 8 and store.count(language="lean4") == 2
    assert [e.name for e in store.list(kind="lemma", language="coq")] == ["add_comm", "mul_assoc"]
    assert len(store.list(limit=5)) == 5 and store.list(limit=5, offset=10)[0].name == "sq_nonneg"
    assert store.find_by_name("modpow", kind="tool")[0].statement.startswith("modpow(")
    assert store.find_by_name("modpow", kind="lemma") == []


def test_update_rehashes_and_refuses_to_collide(store):
    a = store.add(tool()).id
    b = store.add(tool(name="dec", body="return x - 1", docstring="subtract one")).id
    e = store.update(b, source="def dec(x):\n    return x - 2\n", evidence="tests ok")
    assert e.evidence == "tests ok" and e.content_hash != store.get(a).content_hash
    with pytest.raises(StoreError, match="duplicates"):
        store.update(b, source=store.get(a).source, statement=store.get(a).statement)
    assert store.get(b).source.endswith("x - 2\n")  # the failed update changed nothing
    with pytest.raises(ValueError, match="cannot update"):
        store.update(a, kind="lemma")
    with pytest.raises(StoreError, match="no entry"):
        store.update(10_000, status="verified")


def test_record_failure_counts_and_demotes(store):
    i = store.add(tool(status="verified")).id
    e = store.record_failure(i, demote_after=2, evidence="ZeroDivisionError", run_id="r", problem_id="p")
    assert (e.failure_count, e.status) == (1, "verified")
    e = store.record_failure(i, demote_after=2)
    assert (e.failure_count, e.status, e.evidence) == (2, "demoted", "ZeroDivisionError")
    assert store.usage_counts(i) == {"failed_use": 2}
    # a demoted tool no longer shows up in a verified-only search
    assert all(h.entry.id != i for h in store.search("add one to x", status="verified"))


def test_remove(store):
    i = store.add(tool()).id
    assert store.search("add one", k=1)[0].entry.id == i
    assert store.remove(i) and not store.remove(i)
    assert store.get(i) is None and store.search("add one", k=1) == []


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "vector"])
def test_retrieval_ranks_known_answers_first(store, mode):
    for e in corpus():
        store.add(e)
    for query, want in KNOWN.items():
        hits = store.search(query, k=3, mode=mode)
        assert hits and hits[0].entry.name == want, (mode, query, [h.entry.name for h in hits])
    hits = store.search("greatest common divisor", k=20, mode=mode)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_retrieval_filters_by_kind_language_status(store):
    for e in corpus():
        store.add(e)
    store.set_status(store.find_by_name("lcm_list")[0].id, "demoted")
    hits = store.search("common multiple divisor", k=10, kind="tool", status="verified")
    names = [h.entry.name for h in hits]
    assert "gcd_list" in names and "lcm_list" not in names and all(h.entry.kind == "tool" for h in hits)
    assert {h.entry.language for h in store.search("nat real", k=10, kind="lemma", language="lean4")} == {"lean4"}
    hit = store.search("greatest common divisor", k=1)[0]
    assert hit.keyword_rank == 1 and hit.vector_rank == 1 and hit.similarity > 0


def test_search_sees_writes_from_another_connection(store_url):
    a = open_store(store_url, embedder=HashingEmbedder())
    b = open_store(store_url)  # embedder taken from the library
    try:
        assert b.embedder.name == "hashing-256"
        a.add(tool())
        assert b.search("add one", k=1, mode="vector")[0].entry.name == "inc"  # b's cache loads it
        j = a.add(tool(name="binomial", body="return 1", docstring="n choose k")).id
        assert b.search("choose", k=1, mode="vector")[0].entry.id == j  # incremental refresh
        a.set_status(j, "demoted")
        assert all(h.entry.id != j for h in b.search("choose", k=5, mode="vector", status="pending"))
        assert b.search("choose", k=1, mode="vector", status="demoted")[0].entry.id == j
        a.remove(j)
        assert all(h.entry.id != j for h in b.search("choose", k=5, mode="vector"))  # full reload
    finally:
        a.close()
        b.close()


def test_embedder_is_recorded_and_mixing_is_refused(store_url):
    open_store(store_url, embedder=HashingEmbedder()).close()
    with pytest.raises(EmbedderMismatchError, match="hashing-256"):
        open_store(store_url, embedder=HashingEmbedder(64))


def test_reembed_switches_the_vector_space(store):
    store.add(tool())
    assert store.reembed(HashingEmbedder(64)) == 1
    assert store.embedder.name == "hashing-64" and store.search("add one", k=1, mode="vector")[0].entry.name == "inc"


def test_events_and_stats(store):
    ids = [store.add(e).id for e in corpus()[:3]]
    hits = store.search("greatest common divisor", k=2, run_id="r1", problem_id="p1")
    store.record_event("shown", [h.entry.id for h in hits], run_id="r1", problem_id="p1")
    store.record_event("used", [ids[0]], run_id="r1", problem_id="p1")
    store.record_problem("r1", "p1", solved=True)
    store.record_problem("r1", "p2", solved=True)   # solved without the library
    store.record_problem("r1", "p3", solved=False)
    store.record_event("used", [ids[1]], run_id="r1", problem_id="p3")  # used, but the problem failed
    s = store.stats()
    assert s.total == 3 and s.by_kind == {"tool": 3} and s.by_status == {"verified": 3}
    assert s.events["retrieved"] == 2 and s.events["shown"] == 2 and s.events["used"] == 2
    assert (s.problems_recorded, s.problems_solved, s.solved_using_library) == (3, 2, 1)
    assert s.solved_share_using_library == 0.5
    assert s.top_used[0][2] == 1 and sum(n for *_, n in s.growth) == 3
    assert store.usage_counts(ids[0]) == {"retrieved": 1, "shown": 1, "used": 1}
    evs = store.events(entry_id=ids[0])
    assert [e.event for e in evs] == ["retrieved", "shown", "used"] and evs[0].data["query"]


def test_reopen_keeps_everything_and_migrations_are_idempotent(store_url):
    s = open_store(store_url, embedder=HashingEmbedder())
    i = s.add(tool()).id
    s.close()
    s = open_store(store_url)
    try:
        assert s.get(i).name == "inc"
        assert s._exec("SELECT version FROM schema_version") == [(1,)]
    finally:
        s.close()


def test_database_newer_than_the_code_is_refused(store_url):
    s = open_store(store_url, embedder=HashingEmbedder())
    with s._write():
        s._exec("INSERT INTO schema_version (version, description, applied_at) VALUES (99, 'future', 0)")
    s.close()
    with pytest.raises(SchemaTooNewError, match="schema version 99"):
        open_store(store_url)


def test_bad_urls_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unsupported library URL"):
        open_store("mysql://x/y")
    with pytest.raises(ConnectionError, match="cannot connect"):
        open_store("postgresql://nobody@127.0.0.1:1/none", connect_timeout_s=2)
