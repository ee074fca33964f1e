"""The lemma library side of LEGO-Prover: retrieve verified lemmas, add verified helpers and requests.

LEGO-Prover (Wang et al., arXiv 2310.00656) grows a library of verified lemmas
while it proves: retrieved lemmas are shown to the prover, helpers it proves
are added, helper statements it could not prove become *requests* the evolver
works on later. Entries live in a :class:`~lemmaflow.skills_library.SkillStore`
(``kind="lemma"``, ``language`` the prover's: ``"coq"`` or ``"lean4"``). Each
entry keeps

- its language (the store's ``language`` column): retrieval filters on it in the
  store query, so a Coq lemma is never offered to a Lean proof, nor the reverse;
- the header of the problem it was proved under (imports, scopes/opens) in
  ``metadata["header"]``, so it can be replayed as proved context elsewhere
  (:func:`lemma_context`, in its language's own way);
- the prover's versions (``metadata["versions"]``, e.g. ``{"coq": "8.16.1"}``,
  ``{"lean": "4.15.0", "mathlib": "v4.15.0", "repl": "..."}``): a library built
  under one version never feeds lemmas to a run on another without saying so
  (:func:`version_mismatch`, the ``version_mismatch`` policy ``warn`` /
  ``exclude`` / ``error``).

Example::

    from lemmaflow.skills_library import open_store
    from lemmaflow.skills_library.embedding import HashingEmbedder
    from lemmaflow.agents.proving.library import add_verified, retrieve_lemmas

    store = open_store("runs/lib.db", embedder=HashingEmbedder())
    add_verified(store, name="add0", statement="Lemma add0 (n : nat) : n + 0 = n.",
                 source="Lemma add0 (n : nat) : n + 0 = n.\\nProof. lia. Qed.", header="Require Import Arith.",
                 evidence="proved", problem_id="p1", versions={"coq": "8.16.1"})
    print([e.name for e in retrieve_lemmas(store, "Theorem t (n : nat) : n + 0 + 0 = n.", "Require Import Arith.")])
"""

from __future__ import annotations

import re
from typing import Literal, Sequence

from ...skills_library.models import Entry, Provenance
from ...skills_library.normalize import normalize_source
from ...skills_library.store import SkillStore, StoreError
from ...tools.provers.coq_text import CoqSyntaxError, parse_statement
from .languages import language_for

__all__ = ["VersionMismatch", "VersionPolicy", "add_request", "add_verified", "lemma_context", "portable",
           "retrieve_lemmas", "same_lemma", "version_mismatch", "with_dependencies"]

VersionPolicy = Literal["warn", "exclude", "error"]


class VersionMismatch(RuntimeError):
    """``version_mismatch="error"`` and the library holds lemmas verified under other prover versions."""


def _shape(statement: str, language: str = "coq") -> str:
    """A statement without its keyword and name: ``binders : type``, normalized."""
    if language == "coq":
        try:
            st = parse_statement(statement)
            text = f"{st.binders} : {st.type}"
        except (ValueError, CoqSyntaxError):
            text = statement
    else:
        text = re.sub(r"^\s*(?:theorem|lemma)\s+\S+", "", statement)
        text = re.sub(r":=\s*(?:by)?\s*$", "", text.rstrip())
    return normalize_source(language, text)


def same_lemma(new: Entry, old: Entry) -> bool:
    """Near-duplicate confirmation: same statement up to the lemma's name and layout, same header."""
    return (new.kind, new.language) == (old.kind, old.language) \
        and _shape(new.statement, new.language) == _shape(old.statement, old.language) \
        and new.metadata.get("header", "") == old.metadata.get("header", "")


def portable(entry: Entry, header: str) -> bool:
    """Can ``entry`` be used as context under ``header``? (its language decides: same header, or a header
    that only imports/opens what can be replayed there)."""
    if entry.language not in ("coq", "lean4"):
        return False
    return language_for(entry.language).portable(entry.metadata.get("header", ""), header)


def lemma_context(entry: Entry) -> str:
    """The entry as proved context for a check (Coq: its own Section; Lean: its own section)."""
    return language_for(entry.language).context_text(entry.source, entry.metadata.get("header", ""), f"e{entry.id}")


def version_mismatch(entry: Entry, versions: dict[str, str] | None) -> dict[str, tuple[str, str]]:
    """``{component: (entry's version, run's version)}`` where they differ; ``{}`` when they agree.

    ``versions`` are the run's (``prover.versions()``); empty or None: nothing to compare. An entry that
    recorded no versions (an older library) differs in every component (``"unrecorded"``)."""
    if not versions:
        return {}
    own = entry.metadata.get("versions") or {}
    return {k: (str(own.get(k, "unrecorded")), v) for k, v in versions.items() if str(own.get(k, "unrecorded")) != v}


def with_dependencies(store: SkillStore, entries: Sequence[Entry]) -> list[Entry]:
    """``entries`` and the library lemmas they were proved with (``metadata["deps"]``), dependencies first."""
    out: list[Entry] = []
    seen: set[int] = set()

    def visit(e: Entry, depth: int) -> None:
        if e.id in seen or depth > 50:
            return
        seen.add(e.id)
        for dep_id in e.metadata.get("deps", []):
            dep = store.get(int(dep_id))
            if dep is not None and dep.status == "verified" and dep.language == e.language:
                visit(dep, depth + 1)
        out.append(e)

    for e in entries:
        visit(e, 0)
    return out


def retrieve_lemmas(store: SkillStore, query: str, header: str, k: int = 4, *, run_id: str | None = None,
                    problem_id: str | None = None, exclude_names: Sequence[str] = (), language: str = "coq",
                    versions: dict[str, str] | None = None, version_policy: VersionPolicy = "warn",
                    mismatched: list[Entry] | None = None) -> list[Entry]:
    """Up to ``k`` verified lemmas *of ``language``* for ``query``, usable under ``header``, distinct names.

    The search records ``retrieved`` events when ``run_id``/``problem_id`` are given. With ``versions`` (the
    run's prover versions), lemmas verified under other versions are appended to ``mismatched`` and, by
    ``version_policy``: kept (``warn``), left out (``exclude``), or refused (``error``: :class:`VersionMismatch`).
    """
    if k <= 0:
        return []
    want = max(3 * k, k)
    while True:
        hits = store.search(query, k=want, kind="lemma", language=language, status="verified",  # type: ignore[arg-type]
                            run_id=run_id, problem_id=problem_id)
        out: list[Entry] = []
        seen_mismatch: list[Entry] = []
        names = set(exclude_names)
        skipped = 0
        for h in hits:
            e = h.entry
            if e.language != language or e.name in names or not portable(e, header):
                skipped += 1
                continue
            diff = version_mismatch(e, versions)
            if diff:
                seen_mismatch.append(e)
                if version_policy == "error":
                    what = ", ".join(f"{c} {a} (run: {b})" for c, (a, b) in sorted(diff.items()))
                    raise VersionMismatch(f"library lemma {e.name} (id {e.id}) was verified under {what}; "
                                          "version_mismatch=error refuses it (use warn or exclude)")
                if version_policy == "exclude":
                    skipped += 1
                    continue
            names.add(e.name)
            out.append(e)
            if len(out) == k:
                break
        # lemmas of other versions (or headers) crowded the candidates out: look further, up to 30 k
        if len(out) == k or len(hits) < want or not skipped or want >= 30 * k:
            break
        want *= 3
    if mismatched is not None:
        mismatched.extend(seen_mismatch)
    return out


def _add(store: SkillStore, entry: Entry) -> int | None:
    res = store.add(entry, confirm=same_lemma)
    if res.outcome == "needs_confirmation":  # cannot happen with confirm=...; be safe
        res = store.add(entry, force=True)
    return res.id


def add_verified(store: SkillStore, *, name: str, statement: str, source: str, header: str, evidence: str,
                 problem_id: str | None = None, run_id: str | None = None, model: str | None = None,
                 metadata: dict | None = None, language: str = "coq",
                 versions: dict[str, str] | None = None) -> int | None:
    """Add a lemma the prover verified (status ``verified``); a pending request for the same statement is closed.

    ``versions``: the prover's (recorded in ``metadata["versions"]``). Returns the entry id (an existing one
    when the lemma is already there).
    """
    meta = {"header": header, **({"versions": dict(versions)} if versions else {}), **(metadata or {})}
    entry = Entry(kind="lemma", name=name, language=language, source=source.strip(),  # type: ignore[arg-type]
                  statement=statement.strip(), status="verified", evidence=evidence[:4000], metadata=meta,
                  provenance=Provenance(problem_id=problem_id, run_id=run_id, model=model))
    for req in store.find_by_name(name, kind="lemma"):
        if req.status == "requested" and same_lemma(entry, req):
            try:  # the request is answered: it becomes the verified lemma
                store.update(req.id, status="verified", source=entry.source, evidence=entry.evidence,
                             metadata={**req.metadata, **meta, "was_request": True})
                return req.id
            except StoreError:  # the proved text is in the library already
                break
    return _add(store, entry)


def add_request(store: SkillStore, *, name: str, statement: str, header: str, reason: str,
                problem_id: str | None = None, run_id: str | None = None, model: str | None = None,
                language: str = "coq", versions: dict[str, str] | None = None) -> int | None:
    """A helper statement the prover needed but could not verify: a ``requested`` entry for the evolver."""
    meta = {"header": header, **({"versions": dict(versions)} if versions else {})}
    entry = Entry(kind="lemma", name=name, language=language, source=statement.strip(),  # type: ignore[arg-type]
                  statement=statement.strip(), status="requested", evidence=reason[:4000], metadata=meta,
                  provenance=Provenance(problem_id=problem_id, run_id=run_id, model=model))
    return store.add(entry, force=True).id
