"""A model's Lean 4 answer taken apart: helper lemmas, the main theorem, and what they reference.

The Lean side of :mod:`.coq_blocks` (same :class:`~.coq_blocks.Block` /
:class:`~.coq_blocks.ParsedProof` shapes, so LEGO-Prover and the evolver
handle both languages alike), written for Lean's own syntax:

- :func:`extract_lean` picks the code out of a model answer (the last
  ```` ```lean4 ```` / ```` ```lean ```` fence with content, or the text itself);
- :func:`split_blocks` cuts the code at *declarations that start a line*
  (``theorem``/``lemma``, with optional doc comment, ``@[attr]`` and
  ``private``/``protected`` modifiers). A declaration runs until the next one
  (Lean has no ``Qed.``: an indented tactic block belongs to the declaration
  above it). Before the first declaration: ``import`` lines are dropped (the
  dataset's header fixes the imports; :attr:`LeanParsed.dropped_imports` says
  which), ``open``/``set_option``/``open ... in`` lines form the preamble, and
  anything else is a bare proof of the main theorem (a tactic block continuing
  ``:= by``). ``def``/``abbrev``/``instance`` blocks the model adds are kept in
  the preamble in order (later lemmas may use them; the statement-exact check
  elaborates the original statement *before* any of it, so they cannot change
  what is proved). A block is ``closed`` unless its proof uses ``sorry``/``admit``
  or has no ``:=`` at all (cut off);
- :func:`references`: which known names a text uses (comments and strings
  blanked; ``h.symm`` and ``(h x).trans`` use ``h``; Unicode subscripts are
  part of names, as in Mathlib's ``h₁``);
- :func:`context_text`: a verified lemma as proved context for another check:
  inside its own ``section ... end`` with the ``open``/``set_option`` lines of
  the header it was proved under (scoped: they never leak into the proof
  that uses it); :func:`portable` says whether a lemma's header can be
  replayed under another header (its imports must be among that header's: a
  context command cannot import).

Example::

    >>> p = split_blocks("theorem h (x : Nat) : x + 0 = x := by\\n  simp\\n\\n"
    ...                  "theorem t : 2 + 0 = 2 := by\\n  exact h 2\\n", main_name="t")
    >>> [b.name for b in p.helpers], p.main.name
    (['h'], 't')
    >>> p.helpers[0].statement
    'theorem h (x : Nat) : x + 0 = x'
    >>> sorted(references(p.main.text, {"h", "g"}))
    ['h']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...tools.provers.lean_check import blank_comments
from .coq_blocks import Block, ParsedProof

__all__ = [
    "LeanParsed",
    "context_text",
    "extract_lean",
    "header_lines",
    "portable",
    "references",
    "split_blocks",
    "statement_name",
]

_FENCE = re.compile(r"```[ \t]*(?:lean4|lean|Lean4|Lean)?[ \t]*\n(.*?)(?:```|\Z)", re.S)
# a declaration that starts a line: optional attributes and modifiers, then the keyword and the name
_MODS = r"(?:@\[[^\]]*\]\s*)*(?:(?:private|protected|noncomputable|nonrec)\s+)*"
_DECL = re.compile(rf"^{_MODS}(theorem|lemma)\s+([^\s:({{\[⦃]+)", re.M)
_OTHER = re.compile(rf"^{_MODS}(def|abbrev|instance|example|structure|inductive|class)\b", re.M)
_IMPORT = re.compile(r"^import\b")
_SCOPE = re.compile(r"^(?:open|set_option)\b")
_NAME_CHARS = r"[\w'!?₀-₉ₐ-ₜᵢ-ᵪ]"
_TOKEN = re.compile(rf"{_NAME_CHARS}+(?:\.{_NAME_CHARS}+)*")
_DOC = re.compile(r"/--.*?-/\s*$", re.S)


@dataclass
class LeanParsed(ParsedProof):
    dropped_imports: list[str] = field(default_factory=list)  # `import X` lines the model wrote (not run)


def extract_lean(answer: str) -> str:
    """The Lean code of a model answer: the last fenced block with content, else the whole answer."""
    blocks = [b for b in _FENCE.findall(answer) if b.strip()]
    if blocks:
        return blocks[-1].strip("\n") + "\n"
    return answer.strip("\n") + "\n"


def _top_level_assign(clean: str, start: int) -> int:
    """Offset of the first ``:=`` outside brackets at or after ``start`` in comment-free text; -1 if none."""
    depth = 0
    i = start
    while i < len(clean) - 1:
        ch = clean[i]
        if ch in "([{⟨⦃":
            depth += 1
        elif ch in ")]}⟩⦄":
            depth = max(0, depth - 1)
        elif ch == ":" and clean[i + 1] == "=" and depth == 0:
            return i
        i += 1
    return -1


def _uses_sorry(clean: str) -> bool:
    return re.search(r"(?<![\w.])(?:sorry|admit)(?![\w'])", clean) is not None


def split_blocks(code: str, main_name: str) -> LeanParsed:
    """Split Lean code into preamble, helper lemmas and the main theorem ``main_name``."""
    out = LeanParsed()
    clean = blank_comments(code)  # an unterminated comment blanks to the end, as Lean reads it
    starts = sorted({m.start() for m in _DECL.finditer(clean)} | {m.start() for m in _OTHER.finditer(clean)})
    head_end = starts[0] if starts else len(code)
    pre: list[str] = []
    loose: list[str] = []
    for raw, cl in zip(code[:head_end].split("\n"), clean[:head_end].split("\n")):
        if not cl.strip():
            if loose:
                loose.append(raw)
            continue
        if _IMPORT.match(cl) and not loose:
            out.dropped_imports.append(cl.strip())
        elif _SCOPE.match(cl) and not loose:
            pre.append(raw)
        else:
            loose.append(raw)
    for i, at in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(code)
        # a doc comment right above the next declaration belongs to it, not to this one
        text, ctext = code[at:end], clean[at:end]
        doc = _DOC.search(code[at:end])
        if doc and i + 1 < len(starts):
            text, ctext = text[:doc.start()], ctext[:doc.start()]
        text, ctext = text.rstrip(), ctext.rstrip()
        m = _DECL.match(ctext)
        if m is None:  # def / instance / example ...: kept in order for what follows
            if not ctext.lstrip().startswith("example"):
                pre.append(text)
            continue
        name = m.group(2)
        assign = _top_level_assign(ctext, m.end())
        statement = " ".join(text[:assign].split()) if assign >= 0 else " ".join(text.split())
        statement = re.sub(rf"^{_MODS}", "", statement)
        closed = assign >= 0 and bool(ctext[assign + 2:].strip()) and not _uses_sorry(ctext[assign + 2:])
        block = Block(name=name, statement=statement, text=text, closed=closed)
        if name == main_name:
            out.main = block
        elif out.main is None:
            out.helpers.append(block)
        else:  # a lemma after the main theorem cannot be used by it; still a helper worth checking
            out.helpers.append(block)
    out.preamble = "\n".join(pre)
    out.loose = "\n".join(loose).rstrip()
    return out


def references(text: str, names: set[str] | frozenset[str]) -> set[str]:
    """Which of ``names`` occur as identifiers in ``text`` (comments and strings ignored)."""
    used: set[str] = set()
    for tok in _TOKEN.findall(blank_comments(text)):
        parts = tok.split(".")
        for k in range(1, len(parts) + 1):  # h.symm uses h; Nat.foo_bar uses Nat.foo_bar
            cand = ".".join(parts[:k])
            if cand in names:
                used.add(cand)
    return used


def header_lines(header: str) -> tuple[list[str], list[str], list[str]]:
    """``(imports, scope lines (open/set_option), other lines)`` of a Lean header (comments dropped)."""
    imports, scope, other = [], [], []
    for line in blank_comments(header).splitlines():
        s = line.strip()
        if not s:
            continue
        if _IMPORT.match(s):
            imports.extend(s.split()[1:])
        elif _SCOPE.match(s):
            scope.append(s)
        else:
            other.append(s)
    return imports, scope, other


def portable(own_header: str, header: str) -> bool:
    """Can a lemma proved under ``own_header`` be replayed under ``header``?

    Its imports must all be loaded by ``header`` (a context command cannot import), and its header may
    hold nothing but imports, ``open`` and ``set_option`` lines (those are replayed inside a section)."""
    if own_header == header:
        return True
    imports, _scope, other = header_lines(own_header)
    have, _s, _o = header_lines(header)
    return not other and set(imports) <= set(have)


def context_text(source: str, header: str, label: str = "") -> str:
    """A verified lemma as proved context: in its own ``section``, with its header's ``open``/``set_option``."""
    _imports, scope, _other = header_lines(header)
    lines = ["section", *scope, source.strip(), "end"]
    return "\n".join(lines)


def statement_name(statement: str) -> str | None:
    m = _DECL.search(blank_comments(statement))
    return m.group(2) if m else None
