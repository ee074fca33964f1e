"""A model's Coq answer taken apart: helper lemmas, the main proof, and what they reference.

LEGO-Prover (Wang et al., arXiv 2310.00656) lets the model state and prove
helper lemmas before the main theorem; each helper is checked on its own and a
verified helper becomes a library skill. This module does the text side of it:

- :func:`extract_coq` picks the Coq code out of a model answer (the last fenced
  block, or the text itself when it has no fence);
- :func:`split_blocks` splits the code into a preamble (``Require``/``Open Scope``
  lines before the first lemma), helper blocks (``Lemma h ... Proof. ... Qed.``)
  and the main block (the one declaring the problem's name, or the loose
  ``Proof. ... Qed.`` left after the helpers);
- :func:`references` tells which known lemma names a text uses (word match,
  comments ignored), for ``used`` events;
- :func:`context_text` wraps a verified lemma so it can be prepended to another
  check as proved context: inside its own ``Section`` with the imports and
  scopes of the problem it was proved for, so its ``Open Scope R_scope`` never
  leaks into a proof written under another header.

Example::

    >>> p = split_blocks("Lemma h (x : nat) : x + 0 = x. Proof. lia. Qed.\\n"
    ...                  "Theorem t : 2 + 0 = 2. Proof. apply h. Qed.", main_name="t")
    >>> [b.name for b in p.helpers], p.main.name
    (['h'], 't')
    >>> sorted(references(p.main.text, {"h", "g"}))
    ['h']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...tools.provers.coq_text import CoqSyntaxError, parse_statement, split_sentences, strip_comments

__all__ = [
    "Block",
    "ParsedProof",
    "context_text",
    "extract_coq",
    "import_sentences",
    "references",
    "split_blocks",
    "statement_name",
]

_FENCE = re.compile(r"```[ \t]*(?:coq|Coq|rocq|v)?[ \t]*\n(.*?)(?:```|\Z)", re.S)
_STATEMENT = re.compile(r"^\s*(?:#\[[^\]]*\]\s*)?(?:(?:Local|Global)\s+)?"
                        r"(Theorem|Lemma|Fact|Remark|Corollary|Proposition|Property|Example)\s+([^\s:({\[]+)")
_ENDS = ("Qed.", "Defined.", "Admitted.", "Abort.", "Save.")
_IMPORT = re.compile(r"^\s*(?:From\s+\S+\s+)?(?:Require|Import|Export|(?:Local\s+|Global\s+)?Open\s+Scope|"
                     r"Set\s+Warnings)\b")


@dataclass(frozen=True)
class Block:
    """One lemma: its statement sentence and its full text (statement, proof, closing ``Qed.``)."""

    name: str
    statement: str
    text: str
    closed: bool = True  # ends with Qed./Defined. (False: Admitted/Abort/cut off)


@dataclass
class ParsedProof:
    preamble: str = ""  # sentences before the first lemma (imports, scopes)
    helpers: list[Block] = field(default_factory=list)
    main: Block | None = None  # the block declaring the problem's theorem
    loose: str = ""  # sentences outside any lemma after the first one (a bare main proof)
    error: str | None = None  # the code could not be split (unterminated comment, ...)

    def main_proof(self) -> str:
        """The text to check against the dataset statement: the main block, or the loose proof."""
        if self.main is not None:
            return self.main.text
        return self.loose


def extract_coq(answer: str) -> str:
    """The Coq code of a model answer: the last fenced block with content, else the whole answer."""
    blocks = [b for b in _FENCE.findall(answer) if b.strip()]
    if blocks:
        return blocks[-1].strip() + "\n"
    return answer.strip() + "\n"


def split_blocks(code: str, main_name: str) -> ParsedProof:
    """Split Coq code into preamble, helper lemmas and the main theorem ``main_name``."""
    out = ParsedProof()
    try:
        sentences = split_sentences(code)
    except CoqSyntaxError as e:
        out.error = f"cannot split the Coq code: {e}"
        return out
    pre: list[str] = []
    loose: list[str] = []
    current: list[str] | None = None
    current_head: tuple[str, str] | None = None
    seen_block = False

    def close(closed: bool) -> None:
        nonlocal current, current_head
        if current is None or current_head is None:
            return
        name, stmt = current_head
        block = Block(name=name, statement=stmt, text="\n".join(current), closed=closed)
        if name == main_name:
            out.main = block
        else:
            out.helpers.append(block)
        current, current_head = None, None

    for s in sentences:
        text = s.text
        m = _STATEMENT.match(strip_comments(text))
        if m:
            close(False)  # a lemma that never reached Qed.
            seen_block = True
            current, current_head = [text], (m.group(2), text.strip())
            continue
        if current is not None:
            current.append(text)
            if text in _ENDS:
                close(text in ("Qed.", "Defined.", "Save."))
            continue
        if not seen_block:
            pre.append(text)
        else:
            loose.append(text)
    close(False)
    # a bare "Proof. ... Qed." before any lemma is the main proof, not a preamble
    if pre and any(not _IMPORT.match(p) for p in pre) and out.main is None and not out.helpers:
        out.loose, pre = "\n".join(pre), []
    elif loose:
        out.loose = "\n".join(loose)
    out.preamble = "\n".join(p for p in pre if _IMPORT.match(p))
    return out


def references(text: str, names: set[str] | frozenset[str]) -> set[str]:
    """Which of ``names`` occur as identifiers in ``text`` (comments ignored)."""
    try:
        body = strip_comments(text)
    except CoqSyntaxError:
        body = text
    words = set(re.findall(r"[A-Za-z_][\w']*", body))
    return {n for n in names if n in words}


def import_sentences(header: str) -> str | None:
    """The header's import and scope sentences; None when it also defines things (then it is not portable)."""
    try:
        sentences = split_sentences(header)
    except CoqSyntaxError:
        return None
    kept = []
    for s in sentences:
        if not _IMPORT.match(strip_comments(s.text)):
            return None
        kept.append(s.text)
    return "\n".join(kept)


def context_text(source: str, header: str, label: str) -> str:
    """A verified lemma as proved context: in its own Section, with its problem's imports and scopes."""
    imports = import_sentences(header) or ""
    tag = re.sub(r"\W", "_", label)
    return (f'Set Warnings "-require-in-section".\nSection lf_ctx_{tag}.\n{imports}\n{source.strip()}\n'
            f"End lf_ctx_{tag}.")


def statement_name(statement: str) -> str | None:
    try:
        return parse_statement(statement).name
    except (ValueError, CoqSyntaxError):
        return None
