r"""Problems (question + gold answer) read from rows, and grading against gold.

A row is detected by its fields: GSM8K (``question`` + ``answer`` ending in
``#### <number>``), MATH (``problem`` + ``answer``/``solution``), plain
``{id, question, answer}``, FOLIO (``premises`` + ``conclusion`` [+ ``label``])
or ProofWriter (``context`` + ``question`` + ``options``, ``answer`` A/B/C).

Example::

    >>> from lemmaflow.tools.datasets.problems import parse_row, grade
    >>> from lemmaflow.tools.answers import AnswerChecker
    >>> p = parse_row({"question": "1+1?", "answer": "1+1=2\n#### 2"}, 0, "gsm8k")
    >>> p.id, p.gold
    ('gsm8k-0', '2')
    >>> with AnswerChecker() as checker:
    ...     grade("2.0", p.gold, checker)
    True

Logic benchmarks (FOLIO, ProofWriter) have gold labels ``True``/``False``/``Unknown``
(FOLIO's ``Uncertain`` and ProofWriter's ``C`` are ``Unknown``); their ``question``
is the premises-and-conclusion text of :mod:`lemmaflow.tools.logic.problems`, and
:func:`grade` compares labels exactly (case-insensitive), never by math equivalence.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from pydantic import BaseModel, Field

from ..answers.equivalence import AnswerChecker
from ..answers.extract import find_boxed
from ..keyset import KeySet, text_key

__all__ = [
    "Problem",
    "JsonlLoad",
    "load_problems_jsonl",
    "jsonl_rows",
    "parse_row",
    "iter_problems",
    "problems_from_rows",
    "LOGIC_LABELS",
    "gsm8k_gold",
    "grade",
]

# Gold labels of the logic benchmarks, and how each dataset spells them.
LOGIC_LABELS = ("True", "False", "Unknown")
_FOLIO_LABELS = {"True": "True", "False": "False", "Uncertain": "Unknown", "Unknown": "Unknown"}
_PROOFWRITER_LABELS = {"A": "True", "B": "False", "C": "Unknown"}

class Problem(BaseModel):
    """One benchmark item. ``gold`` is the reference final answer (``None`` if unknown)."""

    id: str
    question: str
    gold: str | None
    source: str
    meta: dict[str, Any] = Field(default_factory=dict)


class JsonlLoad(NamedTuple):
    """What :func:`load_problems_jsonl` returns: good rows and ``(line_no, error)`` for bad ones."""

    problems: list[Problem]
    errors: list[tuple[int, str]]


def gsm8k_gold(answer: str) -> str:
    """The final number of a GSM8K worked solution: text after the last ``####``, commas removed."""
    if "####" not in answer:
        raise ValueError("GSM8K answer has no '####' line")
    return answer.rsplit("####", 1)[1].strip().replace(",", "")


def _content_id(prefix: str, question: str, gold: str | None) -> str:
    digest = hashlib.sha1(f"{question}\x00{gold}".encode("utf-8")).hexdigest()[:12]
    return f"{prefix}-{digest}"


def parse_row(row: Any, index: int, source: str | None) -> Problem:
    """Turn one decoded JSON row into a Problem; raises ``ValueError`` with a reason."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    if "premises" in row and "conclusion" in row:
        return _parse_folio(row, index, source)
    if "context" in row and "options" in row and "question" in row:
        return _parse_proofwriter(row, index, source)
    meta: dict[str, Any] = {}
    if "problem" in row and "question" not in row:  # MATH style
        question, style = row["problem"], "math500"
        gold = row.get("answer")
        if gold is None and isinstance(row.get("solution"), str):
            boxes = find_boxed(row["solution"])  # older MATH dumps keep the answer only here
            gold = boxes[-1] if boxes else None
        meta = {k: row[k] for k in ("solution", "subject", "level", "unique_id") if k in row}
    elif "question" in row:
        question = row["question"]
        answer = row.get("answer")
        if isinstance(answer, str) and "####" in answer:  # GSM8K style
            style, gold = "gsm8k", gsm8k_gold(answer)
            meta = {"solution": answer}
        else:
            style, gold = "jsonl", answer
    else:
        raise ValueError("missing 'question' (or 'problem') field")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("empty or non-string question")
    if gold is not None and not isinstance(gold, str):
        if isinstance(gold, (bool, dict, list)):
            raise ValueError(f"unsupported answer type {type(gold).__name__}")
        gold = str(gold)  # numeric gold in hand-written files
    src = source or style
    if row.get("id") is not None:
        pid = str(row["id"])
    elif row.get("unique_id") is not None:
        pid = str(row["unique_id"])
    elif style in ("gsm8k", "math500"):
        pid = f"{src}-{index}"
    else:
        pid = _content_id(src, question, gold)
    extra = {k: v for k, v in row.items() if k not in {"id", "question", "problem", "answer", *meta}}
    return Problem(id=pid, question=question, gold=gold, source=src, meta={**meta, **extra})


def _parse_folio(row: dict, index: int, source: str | None) -> Problem:
    """A FOLIO row: ``premises`` (list), ``conclusion``, ``label``, gold FOL kept in ``meta``."""
    from ..logic.problems import format_logic_question

    premises, conclusion = row["premises"], row["conclusion"]
    if not isinstance(premises, list) or not all(isinstance(p, str) for p in premises):
        raise ValueError("FOLIO 'premises' must be a list of strings")
    if not isinstance(conclusion, str) or not conclusion.strip():
        raise ValueError("FOLIO 'conclusion' must be a non-empty string")
    label = row.get("label")
    if label is not None and label not in _FOLIO_LABELS:
        raise ValueError(f"FOLIO label {label!r} is not one of {sorted(_FOLIO_LABELS)}")
    src = source or "folio"
    meta = {
        "premises": [" ".join(p.split()) for p in premises],
        "conclusion": " ".join(conclusion.split()),
        "premises_fol": row.get("premises-FOL"),
        "conclusion_fol": row.get("conclusion-FOL"),
    }
    pid = str(row["id"]) if row.get("id") is not None else f"{src}-{index}"
    return Problem(id=pid, question=format_logic_question(premises, conclusion),
                   gold=_FOLIO_LABELS.get(label) if label else None, source=src, meta=meta)


def _parse_proofwriter(row: dict, index: int, source: str | None) -> Problem:
    """A ProofWriter row (Logic-LM's copy): ``context``, ``question`` ending in the statement, ``answer`` A/B/C."""
    import re

    from ..logic.problems import format_logic_question

    context, question = row["context"], row["question"]
    if not isinstance(context, str) or not isinstance(question, str):
        raise ValueError("ProofWriter 'context' and 'question' must be strings")
    answer = row.get("answer")
    if answer is not None and answer not in _PROOFWRITER_LABELS:
        raise ValueError(f"ProofWriter answer {answer!r} is not one of A, B, C")
    # "Based on the above information, is the following statement true, false, or unknown? Charlie is kind."
    statement = question.rsplit("?", 1)[-1].strip() or question.strip()
    # The context is plain sentences; one premise per sentence.
    premises = [s for s in re.split(r"(?<=\.)\s+", context.strip()) if s]
    src = source or "proofwriter"
    pid = str(row["id"]) if row.get("id") is not None else f"{src}-{index}"
    return Problem(id=pid, question=format_logic_question(premises, statement),
                   gold=_PROOFWRITER_LABELS.get(answer) if answer else None, source=src,
                   meta={"premises": premises, "conclusion": statement})


def _json_array_rows(path: str | os.PathLike[str]) -> list[Any] | None:
    """The rows of a file holding one JSON array (ProofWriter's ``dev.json``), or None for JSONL."""
    with open(path, encoding="utf-8") as f:
        head = f.read(4096).lstrip()
        if not head.startswith("["):
            return None
        f.seek(0)
        try:
            data = json.load(f)
        except json.JSONDecodeError:
            # Not one JSON document (e.g. JSONL whose first row is a bad '[...]' line):
            # read it line by line, so good lines survive and bad ones are reported.
            return None
    return data if isinstance(data, list) else None


def jsonl_rows(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """``(line_no, row)`` for each non-blank line; ``row`` is a ``ValueError`` for a line that is not JSON.

    A file holding one JSON array (ProofWriter's ``dev.json``) yields its items,
    numbered from 1.
    """
    array = _json_array_rows(path)
    with open(path, encoding="utf-8") as f:
        lines = (json.dumps(r) for r in array) if array is not None else f
        for line_no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as exc:
                yield line_no, ValueError(f"invalid JSON: {exc.msg} (column {exc.colno})")


def iter_problems(rows: Iterable[tuple[int, Any]], source: str | None = None,
                  transform: Callable[[Any], Any] | None = None,
                  on_error: Callable[[int, str], None] | None = None) -> Iterator[Problem]:
    """Parse numbered rows (``(place, row)``; a ``ValueError`` row is a bad one) into problems, lazily.

    ``transform`` maps each decoded row first (a column mapping) and may raise
    ``ValueError``. Bad rows go to ``on_error(place, reason)`` and are skipped; ids
    are made unique but stable (``id~2`` for a repeat), with about 8 bytes held per id.
    """
    seen, repeats = KeySet(), {}  # a count only for ids that repeat
    for place, row in rows:
        try:
            if isinstance(row, ValueError):
                raise row
            problem = parse_row(transform(row) if transform else row, place - 1, source)
        except ValueError as exc:
            if on_error is not None:
                on_error(place, str(exc))
            continue
        h = text_key(problem.id)
        if h in seen:  # identical content → keep ids unique but stable
            repeats[problem.id] = repeats.get(problem.id, 1) + 1
            problem = problem.model_copy(update={"id": f"{problem.id}~{repeats[problem.id]}"})
        else:
            seen.add(h)
        yield problem


def problems_from_rows(rows: Iterable[tuple[int, Any]], source: str | None = None,
                       transform: Callable[[Any], Any] | None = None) -> JsonlLoad:
    """:func:`iter_problems`, all of them: the problems, and bad rows as ``(place, reason)``."""
    errors: list[tuple[int, str]] = []
    problems = list(iter_problems(rows, source, transform, lambda place, reason: errors.append((place, reason))))
    return JsonlLoad(problems, errors)


def load_problems_jsonl(path: str | os.PathLike[str], source: str | None = None) -> JsonlLoad:
    """Load a JSONL file of problems, skipping (and reporting) bad lines.

    Row styles are detected per line: GSM8K (``question`` + ``answer`` with
    ``####``), MATH (``problem`` + ``answer``/``solution``), or plain
    ``{"id", "question", "answer"}``, FOLIO (``premises`` + ``conclusion``
    [+ ``label``]) or ProofWriter (``context`` + ``question`` + ``options``,
    ``answer`` A/B/C). A file holding one JSON array (ProofWriter's ``dev.json``)
    is read as rows too; its "line numbers" are then 1-based item numbers.
    Ids: the row's ``id`` (or ``unique_id``), else ``gsm8k-<i>`` / ``math500-<i>``
    / ``folio-<i>`` with ``i`` the 0-based line index (so ids do not shift when a
    bad line is skipped), else a content hash. ``source`` overrides the detected
    style name (and the id prefix). Blank lines are ignored. Other formats (JSON,
    CSV, Parquet, Hugging Face): :func:`lemmaflow.tools.datasets.readers.read_problems`.
    """
    return problems_from_rows(jsonl_rows(path), source)


def grade(prediction: str | None, gold: str, checker: AnswerChecker) -> bool:
    """True if an extracted final answer matches ``gold``; an abstention (``None``) is wrong.

    Pass the *extracted* answer (see :func:`~lemmaflow.tools.answers.extract_answer`),
    not the whole reasoning chain. A logic label gold (``True``/``False``/``Unknown``)
    needs the same label (case-insensitive): "1" is not "True" and "Uncertain" is not
    "Unknown" here; everything else is compared by math equivalence.
    """
    if prediction is None or not prediction.strip():
        return False
    if gold in LOGIC_LABELS:
        return prediction.strip().lower() == gold.lower()
    return checker.equivalent(prediction, gold)
