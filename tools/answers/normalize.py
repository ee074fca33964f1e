"""Answer-string normalization and the cheap equivalence fast path.

Everything here is pure string/number work (no sympy, no math-verify), so it is
safe to call on untrusted model output in the hot path of voting.

* :func:`normalize_answer` turns an extracted answer into a clean display form:
  ``"$10\\text{ cm}$."`` → ``"10"``, ``"\\dfrac12"`` → ``"\\frac{1}{2}"``.
* :func:`canonical_key` goes one step further (whitespace removed, plain numbers
  and integer fractions reduced to ``num:p/q``) so that equal keys imply
  equivalent answers without calling math-verify.
* :func:`fast_equivalent` decides pairs of plain numbers exactly (or with a
  small float tolerance) and says ``None`` when math-verify must decide.

Example::

    >>> from lemmaflow.tools.answers.normalize import canonical_key, normalize_answer
    >>> normalize_answer(r"$1,000\\text{ cm}$.")
    '1000'
    >>> canonical_key(r"\\dfrac{2}{4}") == canonical_key("0.5")
    True
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Iterator, NamedTuple

__all__ = [
    "normalize_answer",
    "brace_depths",
    "canonical_key",
    "as_number",
    "numbers_close",
    "fast_equivalent",
    "prepare",
    "compare_prepared",
    "Prepared",
    "has_base_subscript",
    "braces_balanced",
    "is_ambiguous",
]

# Inputs longer than this are not worth normalizing cleverly; they still get a key.
_MAX_LEN = 2000

# A LaTeX row break "\\" is matched first so that its second backslash is not read as "\ ".
_SPACING = re.compile(r"\\\\|\\[!,;: ]|\\q?quad(?![a-zA-Z])|~")
_LEFT_RIGHT = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])\s*([()\[\]|.]|\\[{}|])")
_DISPLAY = re.compile(r"\\(?:displaystyle|textstyle|scriptstyle)(?![a-zA-Z])")
_DEGREES = re.compile(r"\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°|\\degree(?![a-zA-Z]))")
_PERCENT = re.compile(r"\s*\\?%$")
# A trailing unit in \text/\mbox, optionally squared/cubed: "10\text{ cm}^2".
_TEXT_UNIT = re.compile(
    r"^(?P<body>.*?\S)\s*\\(?:text|textrm|textnormal|mbox|mathrm)\{\s*(?P<unit>[A-Za-z][A-Za-z .]*)\}"
    r"(?:\s*\^\s*\{?\s*[23]\s*\}?)?$"
)
_WHOLE_TEXT = re.compile(r"^\\(?:text|textrm|textnormal|textbf|mbox|mathrm|mathbf)\{(?P<inner>[^{}]*)\}$")
# Plain-number followed by unit words: "18 dollars", "5 square feet".
_NUMBER_WORDS = re.compile(r"^(?P<num>[+-]?(?:\d[\d,]*(?:\.\d+)?|\.\d+))\s+(?P<words>[A-Za-z]{2,}(?:[\s.]+[A-Za-z]+)*)\.?$")
_CHOICE = re.compile(r"^\(?\s*([A-E])\s*\)?$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?$")
# "x = ...", "\theta = ...", "x \in ..." in front of an answer that has no other '='.
_LEADING_VAR = re.compile(r"^(?:[A-Za-z]|\\[a-zA-Z]+)(?:_\{?[A-Za-z0-9]+\}?)?\s*(?:=|\\in(?![a-zA-Z]))\s*(?P<rest>.+)$")
# Shorthand fractions: \frac12, \frac 34, \frac9{19}, \frac{270}7.
_FRAC_SHORT = re.compile(r"\\frac\s*(\d|\{[^{}]*\})\s*(\d|\{[^{}]*\})")
_SQRT_SHORT = re.compile(r"\\sqrt\s*(\d)")
_MIXED = re.compile(r"^([+-]?)(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}$")
_INT_FRAC = re.compile(r"^([+-]?)\\frac\{([+-]?\d+)\}\{([+-]?\d+)\}$|^([+-]?\d+)\s*/\s*([+-]?\d+)$")
# A number written in base b: 4343_6, 4210_{5}. math-verify drops the subscript.
_BASE_SUBSCRIPT = re.compile(r"^(?=[0-9A-Z]*\d)[0-9A-Z]+_\{?\d+\}?$")
# An equation sign (not part of <=, >=, !=, ==).
_EQUATION = re.compile(r"(?<![<>!=])=(?!=)")
# Whitespace that separates a LaTeX command from a following letter is meaningful.
_WS = re.compile(r"(\\[a-zA-Z]+)\s+(?=[a-zA-Z])|\s+")
_AMBIGUOUS = re.compile(r"\bor\b|\beither\b|\\lor(?![a-zA-Z])|\\vee(?![a-zA-Z])", re.IGNORECASE)


def _strip_outer_math(s: str) -> str:
    s = s.strip()
    s = s.replace("\\$", "").replace("$", "")
    for opener, closer in (("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(opener) and s.endswith(closer):
            s = s[len(opener) : -len(closer)]
    return s.strip()


def normalize_answer(answer: str) -> str:
    """Return a cleaned display form of ``answer`` (still LaTeX, meaning unchanged).

    Each rewrite below is one that graders treat as meaning-preserving for final
    answers; anything riskier is left to math-verify.
    """
    s = answer.strip()
    if len(s) > _MAX_LEN:
        return s
    s = _strip_outer_math(s)
    s = s.rstrip(" .;,")  # trailing sentence punctuation, never part of an answer
    s = _DISPLAY.sub("", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r",\\!\s*", ",", s)  # "10,\!080": thin space inside a thousands group
    s = _SPACING.sub(lambda m: m.group(0) if m.group(0) == "\\\\" else " ", s)
    s = _LEFT_RIGHT.sub(r"\1", s)
    s = _DEGREES.sub("", s)
    s = _PERCENT.sub("", s)
    s = s.strip()
    # Units after a value: "10\text{ cm}", "864 \mbox{ inches}^2". Loop for "\text{m}\text{/s}".
    for _ in range(3):
        m = _TEXT_UNIT.match(s)
        if not m or m.group("unit").strip().lower() in {"or", "and"}:
            break
        s = m.group("body").strip()
    m = _WHOLE_TEXT.match(s)
    if m:  # "\text{Evelyn}", "\text{(B)}"
        s = m.group("inner").strip()
    m = _CHOICE.match(s)
    if m:  # multiple-choice letter: "(B)", "B" → "B"
        return m.group(1)
    m = _NUMBER_WORDS.match(s)
    if m and m.group("words").lower().split()[0] not in {"or", "and"}:
        s = m.group("num")
    m = _LEADING_VAR.match(s)
    # Only drop "x =" when the rest is a single value, not a system like "x=1, y=2".
    if m and "=" not in m.group("rest") and "\\in" not in m.group("rest"):
        s = m.group("rest").strip()
    s = _FRAC_SHORT.sub(lambda mm: "\\frac" + _brace(mm.group(1)) + _brace(mm.group(2)), s)
    s = _SQRT_SHORT.sub(r"\\sqrt{\1}", s)
    s = s.strip()
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    return s


def _brace(group: str) -> str:
    return group if group.startswith("{") else "{" + group + "}"


def _number(s: str) -> Fraction | None:
    """Exact value of an already-normalized plain number / integer fraction / mixed number."""
    s = s.replace(" ", "")
    if len(s) > 200:
        return None
    if _PLAIN_NUMBER.match(s):
        try:
            return Fraction(Decimal(s))
        except (InvalidOperation, ValueError, OverflowError):
            return None
    m = _MIXED.match(s)
    if m:
        sign, whole, num, den = m.groups()
        if int(den) == 0:
            return None
        value = int(whole) + Fraction(int(num), int(den))
        return -value if sign == "-" else value
    m = _INT_FRAC.match(s)
    if m:
        if m.group(2) is not None:
            sign, num, den = m.group(1), m.group(2), m.group(3)
        else:
            sign, num, den = "", m.group(4), m.group(5)
        if int(den) == 0:
            return None
        value = Fraction(int(num), int(den))
        return -value if sign == "-" else value
    return None


def as_number(answer: str) -> Fraction | None:
    """Exact value of a plain number / integer fraction / mixed number, else ``None``.

    Accepts a normalized or raw answer: ``"1,000"``, ``"-0.50"``, ``"\\frac{3}{8}"``,
    ``"1\\frac{4}{5}"`` (mixed number), ``"7/2"``. Exponents are capped so a hostile
    ``1e999999999`` cannot make us build a huge integer.
    """
    return _number(normalize_answer(answer))


def has_base_subscript(answer: str) -> bool:
    """True for numbers written in another base (``4343_6``), which math-verify misreads."""
    return bool(_BASE_SUBSCRIPT.search(answer))


def is_ambiguous(answer: str) -> bool:
    """True when an answer offers alternatives ("7 or 8", "either 3 or 4", ``a \\lor b``)."""
    return bool(_AMBIGUOUS.search(answer))


def brace_depths(text: str, start: int = 0) -> Iterator[tuple[int, int]]:
    """Yield ``(index, depth after it)`` for each unescaped ``{``/``}`` from ``start``.

    A backslash escapes the next character, so ``\\{`` and ``\\\\`` never count.
    """
    depth = 0
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
            yield i, depth
        elif c == "}":
            depth -= 1
            yield i, depth
        i += 1


def braces_balanced(answer: str) -> bool:
    """True if unescaped ``{``/``}`` pair up (``\\{`` and ``\\\\`` are skipped)."""
    depth = 0
    for _, depth in brace_depths(answer):
        if depth < 0:
            return False
    return depth == 0


class Prepared(NamedTuple):
    """What the fast path needs to know about one answer, computed once."""

    key: str
    number: Fraction | None
    equation: bool
    base_number: bool
    malformed: bool = False


def prepare(answer: str) -> Prepared:
    """Normalize ``answer`` once into its key, exact value and guard flags."""
    s = normalize_answer(answer)
    value = _number(s)
    if value is not None:
        key = f"num:{value.numerator}" if value.denominator == 1 else f"num:{value.numerator}/{value.denominator}"
        return Prepared(key, value, False, False)
    s = _WS.sub(lambda m: (m.group(1) + " ") if m.group(1) else "", s)
    s = re.sub(r"_\{(\d+)\}", r"_\1", s)  # 4210_{5} ≡ 4210_5
    if len(s) >= 2 and re.fullmatch(r"[A-Za-z ]+", s):
        s = s.lower()
    return Prepared("tex:" + s, None, bool(_EQUATION.search(s)), has_base_subscript(s), not braces_balanced(s))


def canonical_key(answer: str) -> str:
    """A cheap key such that equal keys imply equivalent answers.

    Numbers become ``num:<p/q>`` (exact reduced fraction), everything else
    ``tex:<normalized, whitespace-free LaTeX>``; pure words are lower-cased
    because math-verify also compares text case-insensitively.
    """
    return prepare(answer).key


# Relative tolerance for non-integer plain numbers; capped in absolute terms so that
# e.g. 1000000.5 and 1000000 (relative gap 5e-7) are still different answers.
REL_TOL = Fraction(1, 10**6)
ABS_CAP = Fraction(1, 10**4)


def numbers_close(x: Fraction, y: Fraction) -> bool:
    """Exact for two integers; otherwise ``|x-y| <= min(REL_TOL*max(|x|,|y|), ABS_CAP)``."""
    if x == y:
        return True
    if x.denominator == 1 and y.denominator == 1:
        return False  # GSM8K-style integers: 1000000 vs 1000001 must differ
    return abs(x - y) <= min(REL_TOL * max(abs(x), abs(y)), ABS_CAP)


def compare_prepared(a: Prepared, b: Prepared) -> bool | None:
    """:func:`fast_equivalent` on prepared answers (for loops over many pairs)."""
    if a.key == b.key:
        return True
    if a.number is not None and b.number is not None:
        return numbers_close(a.number, b.number)
    if a.malformed or b.malformed:
        # Unbalanced braces: only the identical spelling (same key) matches; math-verify
        # might "repair" the text (our \boxed{...} wrapper would close a brace).
        return False
    if a.base_number or b.base_number:
        # math-verify reads 4343_6 as 4343; only the exact (normalized) spelling counts.
        return False
    if a.equation != b.equation:
        # math-verify unwraps "5x-7y+11z+4=0" to its right-hand side, so it would
        # equal "0". Harmless "x = 3" forms were already reduced to "3" above.
        return False
    return None


def fast_equivalent(a: str, b: str) -> bool | None:
    """Decide cheaply when possible: ``True``/``False``, or ``None`` = ask math-verify."""
    return compare_prepared(prepare(a), prepare(b))
