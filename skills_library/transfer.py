"""JSONL export and import of a library (one entry per line, every field but the database id).

Import deduplicates: an entry whose normalized content exists is skipped; a near duplicate
(embedding similarity over the store's threshold) is skipped when :func:`same_statement`
confirms it (same statement; for tools also the same tests), else added. Bad lines are
reported with their line number and skipped; nothing already imported is lost.

Example::

    from lemmaflow.skills_library import open_store
    from lemmaflow.skills_library.transfer import export_jsonl, import_jsonl
    n = export_jsonl(open_store("a.db"), "lib.jsonl")
    report = import_jsonl(open_store("b.db"), "lib.jsonl")
    print(n, report.added, report.duplicates, report.errors)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from .models import Entry
from .normalize import same_statement
from .store import SkillStore

__all__ = ["ImportReport", "export_jsonl", "import_jsonl"]


@dataclass
class ImportReport:
    added: int = 0
    duplicates: int = 0
    near_duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)


def export_jsonl(store: SkillStore, out: str | Path | IO[str], *, batch: int = 500, **filters) -> int:
    """Write every entry (optionally filtered by kind/language/status); returns the count."""
    own = not hasattr(out, "write")
    f = open(out, "w", encoding="utf-8") if own else out
    n = 0
    try:
        while True:
            entries = store.list(limit=batch, offset=n, **filters)
            for e in entries:
                f.write(json.dumps(e.model_dump(mode="json", exclude={"id"}), ensure_ascii=False) + "\n")
            n += len(entries)
            if len(entries) < batch:
                return n
    finally:
        if own:
            f.close()


def import_jsonl(store: SkillStore, src: str | Path | IO[str]) -> ImportReport:
    report = ImportReport()
    own = not hasattr(src, "read")
    f = open(src, encoding="utf-8") if own else src
    try:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                row.pop("id", None)
                row.pop("content_hash", None)  # recomputed by the store
                entry = Entry.model_validate(row)
            except (json.JSONDecodeError, ValidationError, AttributeError, TypeError) as e:
                report.errors.append((line_no, str(e).splitlines()[0][:300]))
                continue
            r = store.add(entry, confirm=same_statement)
            if r.outcome == "added":
                report.added += 1
            elif r.outcome == "duplicate":
                report.duplicates += 1
            else:
                report.near_duplicates += 1
    finally:
        if own:
            f.close()
    return report
