r"""Masking one number of a question as ``x``, for backward reasoning (FOBAR, arXiv 2308.07758).

FOBAR verifies a candidate answer by hiding a number of the question and asking
the model to recover it from the answer. :func:`candidate_maskings` finds every
number that is a *quantity* of the problem and gives, for each, the masked
question with the wording left intact: only the digits (or number words) become
``x``; currency signs, percent signs, units and hyphenated compounds stay.

What is masked (``kind``):

=============  ====================================  ==========================
kind           example                               masked as
=============  ====================================  ==========================
``integer``    ``16 eggs``, ``3-day``, ``1,000``     ``x eggs``, ``x-day``, ``x``
``decimal``    ``2.5 hours``                         ``x hours``
``fraction``   ``2/3 of``, ``1 1/2 cups``            ``x of``, ``x cups``
``percent``    ``25%``, ``25 percent``               ``x%``, ``x percent``
``money``      ``$1,200.50``, ``£3``                 ``$x``, ``£x``
``word``       ``three``, ``twenty-five``,           ``x``
               ``two hundred``, ``a thousand``
=============  ====================================  ==========================

What is **not** masked, by decision (each keeps the backward question well
formed and its answer a single number):

* multiplicative and fraction words (``twice``, ``thrice``, ``double``,
  ``triple``, ``half``, ``a third``, ``a quarter``, ``a dozen``): replacing
  them with ``x`` breaks the grammar ("x as many"); a number word before a
  fraction word (``two-thirds``, ``one half``) is skipped for the same reason;
* ``one`` used as a pronoun (``one of``, ``no one``, ``each one``, ...);
* ordinals (``3rd``, ``10th``, ``third``); ``zero``;
* numbers that are part of names, labels, dates and clock times: ``#12``,
  ``No. 5``, ``F-150``, ``B12``, ``grade 5``, ``page 12``, a number after a
  capitalised word in mid-sentence and not followed by a lowercase word
  (``the Widgeteer 3000, which``; but ``Jim 3 points`` is a quantity), years
  after ``in``/``since``/..., day numbers next to a month name, ``7:30``,
  ``3 pm``;
* the parts of a digit range ``5-10``.

Example::

    >>> from lemmaflow.tools.masking import candidate_maskings, mask_number
    >>> q = "A shirt costs $1,200.50 and is 25% off. She buys three."
    >>> [(m.kind, m.value, m.masked) for m in candidate_maskings(q)][:2]  # doctest: +NORMALIZE_WHITESPACE
    [('money', 1200.5, 'A shirt costs $x and is 25% off. She buys three.'),
     ('percent', 25.0, 'A shirt costs $1,200.50 and is x% off. She buys three.')]
    >>> mask_number(q, "last").masked
    'A shirt costs $1,200.50 and is 25% off. She buys x.'
    >>> mask_number("What is love?", "first")
    Traceback (most recent call last):
    ...
    lemmaflow.tools.masking.NoMaskableNumber: no maskable number in the question: 'What is love?'
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "MaskKind",
    "MaskSelect",
    "Masking",
    "NoMaskableNumber",
    "candidate_maskings",
    "mask_number",
    "select_maskings",
]

MaskKind = Literal["integer", "decimal", "fraction", "percent", "money", "word"]
MaskSelect = Literal["all", "first", "last"]
PLACEHOLDER = "x"


class NoMaskableNumber(ValueError):
    """The question has no number that can be masked (a clear result, not a crash)."""


class Masking(BaseModel):
    """One way to mask a question: the span replaced, its kind and value, the masked text."""

    model_config = ConfigDict(frozen=True)
    start: int  # the replaced span in the original question: question[start:end]
    end: int
    text: str  # the original text of the span ("1,200.50", "twenty-five", "2/3")
    kind: MaskKind
    value: float
    answer: str  # the value as an answer string for equivalence checks ("1200.5", "2/3", "25")
    masked: str  # the question with the span replaced by "x"


# -- digits -------------------------------------------------------------------------------------

_CURRENCY = "$£€"
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\.\d+|\d+"
_DIGITS = re.compile(
    rf"(?<!\d)(?P<cur>[{_CURRENCY}]\s?)?(?P<num>(?:(?<=[{_CURRENCY}])|(?<=[{_CURRENCY}]\s))\d{{1,3}}(?: \d{{3}})+(?!\d|[,.]\d)|{_NUM})"
    r"(?:(?<!:\d)(?<!:\d\d)(?P<mix>\s+\d+/\d+(?![\d,]))|(?P<frac>/\d+(?![\d,])))?"
    r"(?P<pct>\s?%|\s+percent\b)?"
)
_ORDINAL_SUFFIX = re.compile(r"(?:st|nd|rd|th|ths)\b", re.I)
_TIME_SUFFIX = re.compile(r"\s*(?:[ap]\.?m\b\.?|o'clock\b|o’clock\b)", re.I)
_MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
).split()
_YEAR_LEADS = {"in", "since", "until", "till", "year", "during", "circa", "before", "after"}
_LABEL_LEADS = {"no", "no.", "number", "#"}
# Words that make the following number a label, not a quantity.
_LABEL_WORDS = set(
    "grade grades route highway interstate chapter page apollo model version season episode "
    "section gate platform flight channel exit".split()
)
_PREV_WORD = re.compile(r"([A-Za-z][A-Za-z.'’]*)\s+$")
_NEXT_WORD = re.compile(r"^\s+([A-Za-z]+)")


def _prev_word(text: str, i: int) -> tuple[str, int] | tuple[None, int]:
    """The word just before position ``i`` (whitespace between) and where it starts."""
    lo = max(0, i - 40)
    m = _PREV_WORD.search(text[lo:i])
    return (m.group(1), lo + m.start(1)) if m else (None, i)


def _sentence_initial(text: str, word_start: int) -> bool:
    before = text[:word_start].rstrip()
    return not before or before[-1] in ".!?:;\"“(\n"


def _is_not_quantity(q: str, m: re.Match) -> bool:
    """Names, labels, dates, times, ordinals, ranges: numbers that are not quantities."""
    s, e = m.start("num"), m.end()
    before, after = q[:s], q[e:]
    if m.group("cur") is None:
        if before and (before[-1].isalnum() or before[-1] in "#._") or re.search(r"[A-Za-z]-$", before):
            return True  # B12, #12, F-150, v1.2
        if re.search(r"\d\s*[-–]\s*$", before):
            return True  # the upper end of a range 5-10
    if re.match(r"\s*[-–]\s*\d", after) or re.match(r"\.\d", after):
        return True  # the lower end of a range 5-10; a version or IP-like 1.2.3
    if _ORDINAL_SUFFIX.match(after) and not m.group("pct"):
        return True  # 3rd, 10th, 1/3rd
    left, right = re.match(r":(\d+)(?![\d.])", after), re.search(r"(\d+):$", before)
    if left or right:  # a:b is a clock time (7:30) unless it is a ratio (3:2, "the ratio of 7:11")
        pair_start = m.start() if left else right.start()
        is_ratio = re.search(r"ratio\D{0,25}$", q[max(0, pair_start - 40):pair_start], re.I)
        minutes = left.group(1) if left else m.group("num")
        if not is_ratio and len(minutes) == 2:
            return True
    if _TIME_SUFFIX.match(after) and not m.group("cur"):
        return True  # 3 pm, 5 o'clock
    prev, word_start = _prev_word(q, m.start())
    if prev is not None:
        low = prev.lower()
        if low in _LABEL_LEADS or low.rstrip(".") in _MONTHS:
            return True  # No. 5, March 3
        if low in _YEAR_LEADS and re.fullmatch(r"1[89]\d\d|20\d\d", m.group("num")):
            return True  # in 2020
        if low in _LABEL_WORDS:
            return True  # grade 5, page 12, Room 4
        if prev[0].isupper() and not _sentence_initial(q, word_start) and m.group("cur") is None \
                and not re.match(r"\s*[a-z]", after):
            return True  # Widgeteer 3000, Apollo 11. (but "Jim 3 points" is a quantity)
    nxt = _NEXT_WORD.match(after)
    if nxt and nxt.group(1).lower() in _MONTHS:
        return True  # 3 March
    return False


def _digits_value(m: re.Match) -> tuple[MaskKind, Fraction, str] | None:
    num = Fraction(m.group("num").replace(",", "").replace(" ", ""))  # $400 000
    if m.group("mix"):
        n, d = m.group("mix").strip().split("/")
        if int(d) == 0:
            return None
        return "fraction", num + Fraction(int(n), int(d)), m.group("num") + m.group("mix")
    if m.group("frac"):
        d = int(m.group("frac")[1:])
        if d == 0 or not m.group("num").isdigit():
            return None
        return "fraction", num / d, m.group("num") + m.group("frac")
    if m.group("cur"):
        kind: MaskKind = "money"
    elif m.group("pct"):
        kind = "percent"
    else:
        kind = "decimal" if "." in m.group("num") else "integer"
    return kind, num, m.group("num")


# -- number words -------------------------------------------------------------------------------

_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_WORD = "|".join(sorted([*_UNITS, *_TENS, *_SCALES], key=len, reverse=True))
_WORD_TOKEN = re.compile(rf"\b(?:{_WORD})\b", re.I)
_WORD_GAP = re.compile(r"\s+|-|\s+and\s+", re.I)
_FRACTION_WORDS = re.compile(
    r"[\s-]+(?:half|halves|thirds?|quarters?|fourths?|fifths?|sixths?|sevenths?|eighths?|ninths?|tenths?)\b", re.I
)
_ONE_PRONOUN_BEFORE = {"no", "each", "every", "any", "the", "this", "that", "which", "some", "another", "someone"}
_ONE_PRONOUN_AFTER = re.compile(r"\s+(?:of|another|other|at\s+a\s+time)\b", re.I)


_State = tuple[int, int, str | None]  # (total so far, current group < 1000, kind of the last word)


def _step(state: _State, word: str, gap: str) -> _State | None:
    """Extend a number-word phrase by ``word``, or None if it cannot follow (``one two``, ``five and six``)."""
    total, current, last = state
    if "and" in gap.lower() and last not in ("hundred", "scale"):
        return None
    if word in _UNITS:
        if last in ("unit", "teen") or (last == "tens" and _UNITS[word] >= 10):
            return None
        return total, current + _UNITS[word], "teen" if _UNITS[word] >= 10 else "unit"
    if word in _TENS:
        if last in ("unit", "teen", "tens"):
            return None
        return total, current + _TENS[word], "tens"
    if word == "hundred":
        if current >= 100 or last == "hundred":
            return None
        return total, max(current, 1) * 100, "hundred"
    if last == "scale" and current == 0:
        return None  # "thousand million"
    return total + max(current, 1) * _SCALES[word], 0, "scale"


def _word_phrases(q: str):
    """Maximal number-word phrases: (start, end, value), split where a word cannot continue the number."""
    phrase = None  # [start, end, state]
    for m in _WORD_TOKEN.finditer(q):
        word = m.group(0).lower()
        if phrase is not None:
            gap = q[phrase[1]:m.start()]
            nxt = _step(phrase[2], word, gap) if _WORD_GAP.fullmatch(gap) else None
            if nxt is not None:
                phrase[1], phrase[2] = m.end(), nxt
                continue
            yield phrase[0], phrase[1], phrase[2][0] + phrase[2][1]
        start = m.start()
        if word in _SCALES and re.search(r"\ba\s+$", q[max(0, start - 3):start], re.I):
            start = q.rindex("a", 0, start)  # "a hundred": the article is the number
        first = _step((0, 0, None), word, "")
        phrase = [start, m.end(), first] if first is not None else None
    if phrase is not None:
        yield phrase[0], phrase[1], phrase[2][0] + phrase[2][1]


def _word_candidates(q: str):
    for start, end, value in _word_phrases(q):
        if value == 0:
            continue
        after = q[end:]
        if _FRACTION_WORDS.match(after) or _ORDINAL_SUFFIX.match(after):
            continue  # two-thirds, one half: fraction words stay
        if re.match(r"[-–]\s*\d", after) or _TIME_SUFFIX.match(after):
            continue
        if q[start:end].lower() == "one":
            prev, _ = _prev_word(q, start)
            if (prev and prev.lower() in _ONE_PRONOUN_BEFORE) or _ONE_PRONOUN_AFTER.match(after):
                continue
        yield start, end, q[start:end], "word", Fraction(value)


def _answer_text(v: Fraction) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    if 10 ** 6 % v.denominator == 0 or all(p in (2, 5) for p in _prime_factors(v.denominator)):
        return format(float(v), ".10g")
    return f"{v.numerator}/{v.denominator}"


def _prime_factors(n: int) -> set[int]:
    out, p = set(), 2
    while p * p <= n:
        while n % p == 0:
            out.add(p)
            n //= p
        p += 1
    if n > 1:
        out.add(n)
    return out


def candidate_maskings(question: str) -> list[Masking]:
    """Every maskable number of ``question``, in text order (empty if there is none)."""
    spans: list[tuple[int, int, str, MaskKind, Fraction]] = []
    for m in _DIGITS.finditer(question):
        if _is_not_quantity(question, m):
            continue
        parsed = _digits_value(m)
        if parsed is None:
            continue
        kind, value, text = parsed
        start = m.start("num")
        spans.append((start, start + len(text), text, kind, value))
    taken = [(s, e) for s, e, *_ in spans]
    for s, e, text, kind, value in _word_candidates(question):
        if not any(s < te and ts < e for ts, te in taken):
            spans.append((s, e, text, kind, value))
    spans.sort()
    return [
        Masking(start=s, end=e, text=text, kind=kind, value=float(value), answer=_answer_text(value),
                masked=question[:s] + PLACEHOLDER + question[e:])
        for s, e, text, kind, value in spans
    ]


def select_maskings(question: str, select: MaskSelect = "all", limit: int | None = None) -> list[Masking]:
    """The maskings FOBAR uses: ``all`` (in text order, at most ``limit``), the ``first`` or the ``last``.

    Raises :class:`NoMaskableNumber` when the question has no maskable number.
    """
    cands = candidate_maskings(question)
    if not cands:
        raise NoMaskableNumber(f"no maskable number in the question: {question[:80]!r}")
    if select == "first":
        return cands[:1]
    if select == "last":
        return cands[-1:]
    return cands[:limit] if limit else cands


def mask_number(question: str, which: MaskSelect | int = "first") -> Masking:
    """One masking: ``first``, ``last`` or the i-th candidate. :class:`NoMaskableNumber` if none."""
    cands = candidate_maskings(question)
    if not cands:
        raise NoMaskableNumber(f"no maskable number in the question: {question[:80]!r}")
    if which == "first":
        return cands[0]
    if which == "last":
        return cands[-1]
    if which == "all":
        raise ValueError("mask_number gives one masking; use select_maskings(question, 'all')")
    return cands[which]
