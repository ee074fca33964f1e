r"""Extract the final answer from a model's reasoning chain.

Priority (first that applies wins):

1. ``\boxed{...}`` / ``\fbox{...}`` — nested braces handled, the LAST box is the answer;
2. "The (final) answer is X" / "Answer: X" — the last such phrase;
3. ``#### X`` (GSM8K style) — the last one;
4. the final number in the text (last resort).

The answer is normalized with :func:`~lemmaflow.tools.answers.normalize.normalize_answer`.
Extraction **abstains** (``answer=None, abstained=True`` with a ``reason``) rather
than guess when the answer is ambiguous ("7 or 8", "either 3 or 4"), when boxed
answers contradict each other, when a box is empty, or when braces are
unbalanced. It never raises on any string input.

Example::

    >>> from lemmaflow.tools.answers import extract_answer
    >>> extract_answer(r"so the answer is $\boxed{\dfrac{1}{2}}$.").answer
    '\\frac{1}{2}'
    >>> e = extract_answer("The answer is 7 or 8.")
    >>> (e.answer, e.abstained, e.method)
    (None, True, 'answer_is')
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .normalize import brace_depths, canonical_key, is_ambiguous, normalize_answer

__all__ = ["Extraction", "ExtractionMethod", "extract_answer", "find_boxed"]

ExtractionMethod = Literal["boxed", "answer_is", "hashes", "final_number", "none"]


class Extraction(BaseModel):
    """Result of :func:`extract_answer`.

    ``answer`` is the normalized answer, or ``None`` when extraction abstained;
    ``method`` says which rule fired (also set when that rule found something it
    refused to use); ``reason`` explains an abstention; ``raw`` is the span as it
    appeared in the text, before normalization.
    """

    model_config = ConfigDict(frozen=True)

    answer: str | None
    method: ExtractionMethod
    abstained: bool
    reason: str | None = None
    raw: str | None = None


class _Malformed(Exception):
    """A \\boxed whose braces never close."""


_BOX_CMD = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
# Only the lead-in is matched, so that a later "the answer is" on the same line
# is still found (a capture up to the line end would swallow it).
_ANSWER_IS = re.compile(r"\b(?:final\s+answer|answer)\b\s*(?:\*\*)?\s*(?:is\s*:?|:|=)", re.IGNORECASE)
_HASHES = re.compile(r"####\s*(?P<ans>[^\n]*)")
_CALC_ANNOTATION = re.compile(r"<<[^<>\n]*>>")  # GSM8K calculator traces "<<2*3=6>>"
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|(?<![\w.])-?\.\d+")
# Where a free-text answer stops: sentence end, or an explanation starting.
_ANSWER_END = re.compile(r"\.(?=\s|$)|;|\s(?:because|since|as|which|so that)\s|,\s+(?:so|which|because)\b", re.I)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")
_MATHY = re.compile(r"[\d\\^_{}()\[\]=+*/<>|-]")
_MATH_SPAN = re.compile(r"^\s*(?:\$\$(?P<a>.+?)\$\$|\$(?P<b>.+?)\$|\\\((?P<c>.+?)\\\)|\\\[(?P<d>.+?)\\\])")


def _abstain(method: ExtractionMethod, reason: str, raw: str | None = None) -> Extraction:
    return Extraction(answer=None, method=method, abstained=True, reason=reason, raw=raw)


def _read_group(text: str, start: int) -> tuple[str, int]:
    """Read a ``{...}`` group starting at ``text[start] == "{"``; return (inside, end).

    Escaped braces (``\\{``) and ``\\\\`` are skipped so ``\\boxed{\\{1,2\\}}`` works.
    """
    for i, depth in brace_depths(text, start):
        if depth == 0:
            return text[start + 1 : i], i + 1
    raise _Malformed


def find_boxed(text: str) -> list[str]:
    r"""Contents of every ``\boxed{..}``/``\fbox{..}`` in order (``\boxed 5`` too).

    Raises ``ValueError`` if a box's braces never close.
    """
    out: list[str] = []
    pos = 0
    while True:
        m = _BOX_CMD.search(text, pos)
        if not m:
            return out
        i = m.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            try:
                inner, pos = _read_group(text, i)
            except _Malformed:
                raise ValueError(f"unbalanced braces in \\boxed at offset {m.start()}") from None
            out.append(inner)
        else:  # "\boxed 5": the argument is the next token
            tok = re.match(r"[^\s$]*", text[i:]).group(0)
            out.append(tok)
            pos = i + max(len(tok), 1)


def _finish(raw: str, method: ExtractionMethod) -> Extraction:
    if is_ambiguous(raw):
        return _abstain(method, f"ambiguous answer: {raw.strip()[:80]!r}", raw)
    answer = normalize_answer(raw)
    if not answer:
        return _abstain(method, "empty answer", raw)
    return Extraction(answer=answer, method=method, abstained=False, raw=raw)


def _from_boxes(boxes: list[str]) -> Extraction:
    last = boxes[-1]
    if not normalize_answer(last):
        return _abstain("boxed", "empty \\boxed{}", last)
    # Earlier boxes with a different value mean the model committed to two answers.
    keys = {canonical_key(b) for b in boxes if normalize_answer(b) and not is_ambiguous(b)}
    if len(keys) > 1:
        shown = ", ".join(repr(b.strip()[:30]) for b in boxes[-4:])
        return _abstain("boxed", f"conflicting boxed answers: {shown}", last)
    return _finish(last, "boxed")


def _trim_free_answer(ans: str) -> str:
    ans = ans.replace("**", "").strip()
    m = _MATH_SPAN.match(ans)
    if m:  # "The answer is $\frac12$ cups." → the math span only
        return next(g for g in m.groups() if g is not None)
    end = _ANSWER_END.search(ans)
    return ans[: end.start()] if end else ans


_PROSE_WORD = re.compile(r"(?<![\\\w])[A-Za-z]{2,}\b")


def _settle_span(ans: str) -> tuple[str | None, str | None]:
    """Make a plain-text "the answer is ..." span one value, or say why it is not.

    "12 books - 8 books = 14 books" ends in its value: keep what follows the last
    "=". A span that still mixes words with two or more numbers ("86 in binary
    (1011)", "3 apples and 4 pears") does not name one answer: abstain.
    LaTeX spans are left to math-verify.
    """
    if "\\" in ans or "$" in ans:
        return ans, None
    if "=" in ans:
        tail = ans.rsplit("=", 1)[1].strip()
        if tail:
            ans = tail
    if len(_NUMBER.findall(ans)) >= 2 and _PROSE_WORD.search(ans):
        return None, f"ambiguous answer span (words and several numbers): {ans[:80]!r}"
    return ans, None


def _plausible(answer: str) -> bool:
    """An answer has math in it, or is a few words ("Evelyn", "east", "(B)")."""
    return bool(_MATHY.search(answer)) or len(answer.split()) <= 3


def _final_number(text: str) -> Extraction:
    text = _CALC_ANNOTATION.sub(" ", text)
    matches = list(_NUMBER.finditer(text))
    if not matches:
        return _abstain("none", "no answer found")
    last = matches[-1]
    # "It is 7 or 8" — look at the sentence that holds the final number (only that
    # one: an "or" in a later "questions or comments?" sentence is harmless).
    start = max(text.rfind("\n", 0, last.start()), text.rfind(". ", 0, last.start())) + 1
    end = _SENTENCE_END.search(text, last.end())
    sentence = text[start : end.start() if end else len(text)]
    if is_ambiguous(sentence):
        return _abstain("final_number", f"ambiguous answer: {sentence.strip()[:80]!r}", last.group(0))
    return _finish(last.group(0), "final_number")


def extract_answer(text: str | None) -> Extraction:
    """Extract and normalize the final answer of a reasoning chain (see module doc)."""
    if text is None or not str(text).strip():
        return _abstain("none", "empty text")
    text = str(text)
    try:
        try:
            boxes = find_boxed(text)
        except ValueError as exc:
            return _abstain("boxed", f"malformed LaTeX: {exc}")
        if boxes:
            return _from_boxes(boxes)

        for m in reversed(list(_ANSWER_IS.finditer(text))):
            rest = _trim_free_answer(text[m.end() :].split("\n", 1)[0])
            # "what the answer is going to be" is prose, not an answer: try earlier ones.
            if rest.strip(" *$") and _plausible(rest):
                settled, why = _settle_span(rest)
                if settled is None:
                    return _abstain("answer_is", why, rest)
                return _finish(settled, "answer_is")
            if rest.strip(" *") and not rest.strip(" *$"):
                return _abstain("answer_is", "empty answer", rest)

        hashes = [m for m in _HASHES.finditer(text) if m.group("ans").strip()]
        if hashes:
            return _finish(hashes[-1].group("ans"), "hashes")

        return _final_number(text)
    except Exception as exc:  # pragma: no cover - safety net: callers rely on "never raises"
        return _abstain("none", f"extraction failed: {type(exc).__name__}: {exc}")
