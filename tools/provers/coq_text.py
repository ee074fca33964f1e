"""Coq source text: sentences, statements, forbidden commands, positions.

Coq's IDE protocol (``coqidetop``'s ``Add``) parses exactly one sentence per call
and does not say where that sentence ended, so the client must split the text
into sentences itself, as CoqIDE, Coqtail and VsCoq do. The rules follow Coq's
lexer: a sentence ends at a ``.`` followed by whitespace or the end of the text,
outside comments (nested ``(* *)``, with strings inside them) and strings
(``""`` escapes a quote); bullets (``-``, ``+``, ``*`` and their repetitions) and
braces ``{`` ``}`` at the start of a sentence are sentences of their own.

Splitting is a convenience, not the safety argument: whatever Coq executes, the
verdict comes from the kernel-checked comparison against the original statement
(see :mod:`lemmaflow.tools.provers.coq`).

Example::

    >>> [s.text for s in split_sentences("Proof. - lia. (* done *) Qed.")]
    ['Proof.', '-', 'lia.', 'Qed.']
    >>> parse_statement("Theorem t (x : nat) (h : x = 1) : x + 0 = 1.").binders
    '(x : nat) (h : x = 1)'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "CoqSyntaxError",
    "Sentence",
    "Statement",
    "declares",
    "forbidden_command",
    "line_col",
    "parse_statement",
    "split_sentences",
    "strip_comments",
]


class CoqSyntaxError(ValueError):
    """The text cannot be split (unterminated comment or string); ``offset`` is where it starts."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int  # character offset in the source text
    end: int


def _skip_comment(text: str, i: int) -> int:
    """``text[i:]`` starts with ``(*``; return the index just past the matching ``*)``."""
    start, depth, n = i, 0, len(text)
    while i < n:
        if text.startswith("(*", i):
            depth += 1
            i += 2
        elif text.startswith("*)", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        elif text[i] == '"':  # Coq lexes strings inside comments: "*)" there does not close it
            i = _skip_string(text, i, comment_start=start)
        else:
            i += 1
    raise CoqSyntaxError("unterminated comment", start)


def _skip_string(text: str, i: int, comment_start: int | None = None) -> int:
    start, i, n = i, i + 1, len(text)
    while i < n:
        if text[i] == '"':
            if i + 1 < n and text[i + 1] == '"':
                i += 2
                continue
            return i + 1
        i += 1
    if comment_start is not None:
        raise CoqSyntaxError("unterminated comment", comment_start)
    raise CoqSyntaxError("unterminated string", start)


def split_sentences(text: str) -> list[Sentence]:
    """Split Coq source into sentences (comments between sentences are dropped)."""
    out: list[Sentence] = []
    i, n = 0, len(text)
    while True:
        while i < n:  # skip blanks and comments between sentences
            if text[i].isspace():
                i += 1
            elif text.startswith("(*", i):
                i = _skip_comment(text, i)
            else:
                break
        if i >= n:
            return out
        start = i
        c = text[i]
        if c in "-+*":
            while i < n and text[i] == c:
                i += 1
            out.append(Sentence(text[start:i], start, i))
            continue
        if c in "{}":
            out.append(Sentence(c, start, i + 1))
            i += 1
            continue
        while True:
            if i >= n:
                raise CoqSyntaxError("sentence not terminated by '.'", start)
            if text.startswith("(*", i):
                i = _skip_comment(text, i)
            elif text[i] == '"':
                i = _skip_string(text, i)
            elif text[i] == "." and (i + 1 >= n or text[i + 1].isspace()):
                i += 1
                out.append(Sentence(text[start:i], start, i))
                break
            else:
                i += 1


def strip_comments(text: str) -> str:
    """The text with comments replaced by spaces (positions kept; strings kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("(*", i):
            j = _skip_comment(text, i)
            out.append(" " * (j - i))
            i = j
        elif text[i] == '"':
            j = _skip_string(text, i)
            out.append(text[i:j])
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and 0-based column of a character offset."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1)


# Commands that touch the file system, the process or the load path, or that
# rewind the document under the checker (Coq 8.16 reference manual; checked
# against coqc 8.16.1). Prefixes (attributes, Local/Global, Time, Fail, ...) are
# stripped first, so `Fail Timeout 3 Redirect "f" ...` is caught. This is only a
# first line: every prover process runs confined (docs/prover-confinement.md).
_PREFIX = re.compile(
    r"^\s*(?:#\[[^\]]*\]\s*|(?:Local|Global|Export|Polymorphic|Monomorphic|Program|Time|Fail|Succeed|"
    r"Instructions|Profile|Cumulative|NonCumulative|Private)(?![\w'])\s*|Timeout\s+\d+\s*)"
)
# Each pattern captures the command's name in group 1 and ends where the command is certain:
# after a whole word (not followed by an identifier character), or at the opening quote of a file
# name. (The former patterns ended every command with `\b`, which needs a word character next:
# `Extraction "/tmp/x" nat.` and `Print Universes "/tmp/u".` slipped through.)
_W = r"(?![\w'])"
_FORBIDDEN_PATTERNS = (
    # write files
    rf"(Redirect){_W}",  # Redirect "file" cmd: writes file.out
    r'(Extraction)\s*"',  # Extraction "file" qualids: writes file.ml/.mli
    rf"(Extraction\s+Library){_W}",  # writes M.ml/.mli in the working directory
    rf"(Recursive\s+Extraction\s+Library){_W}",
    rf"(Separate\s+Extraction){_W}",
    rf"(Extraction\s+TestCompile){_W}",  # writes, then runs ocamlfind on the result
    rf'(Print\s+(?:Sorted\s+)?Universes){_W}[^"]*"',  # Print [Sorted] Universes [Subgraph (...)] "file"
    rf"((?:Set|Unset)\s+Extraction\s+Output\s+Directory){_W}",  # where extraction writes (Coq >= 8.17)
    # read files, load code, change where files are looked up
    rf"(Load){_W}",  # Load [Verbose] "file": reads and runs a .v file anywhere
    rf"(Cd){_W}",
    rf"(Declare\s+ML\s+Module){_W}",  # loads native code (a plugin)
    rf"(Add\s+(?:Rec\s+)?LoadPath){_W}",
    rf"(Remove\s+LoadPath){_W}",
    rf"(Add\s+(?:Rec\s+)?ML\s+Path){_W}",
    rf"(Locate\s+(?:File|Library)){_W}",  # probes the file system
    rf"(Set\s+Debug){_W}",  # debug output; Coq 8.16 was seen running `sh -c dot` under `Set Debug "all"`
    # leave the checker or rewind the document under it
    rf"(Drop|Quit|Reset|Back|BackTo|Backtrack){_W}",
)
_FORBIDDEN = re.compile("|".join(f"(?:{p})" for p in _FORBIDDEN_PATTERNS), re.S)


def forbidden_command(sentence: str) -> str | None:
    """The forbidden command a sentence runs (``"Load"``, ``"Redirect"``, ...), or None."""
    s = strip_comments(sentence)
    while True:
        m = _PREFIX.match(s)
        if not m or not m.group(0):
            break
        s = s[m.end():]
    m = _FORBIDDEN.match(s.lstrip())
    if not m:
        return None
    name = next(g for g in m.groups() if g)
    return " ".join(name.split())


_DECL_KW = (
    r"Theorem|Lemma|Fact|Remark|Corollary|Proposition|Property|Example|Definition|Fixpoint|CoFixpoint|"
    r"Let|Instance|Axiom|Axioms|Parameter|Parameters|Conjecture|Hypothesis|Variable|Variables|Program\s+\w+"
)
_STATEMENT_KW = r"Theorem|Lemma|Fact|Remark|Corollary|Proposition|Property|Example"


def declares(text: str, name: str) -> bool:
    """Whether the text (comments ignored) declares ``name`` itself (a full text, not a bare proof)."""
    pat = re.compile(rf"(?:^|[\s.])(?:{_DECL_KW})\s+{re.escape(name)}(?![\w'])")
    try:
        return bool(pat.search(strip_comments(text)))
    except CoqSyntaxError:
        return bool(pat.search(text))


@dataclass(frozen=True)
class Statement:
    """``Theorem NAME BINDERS : TYPE.`` taken apart."""

    keyword: str
    name: str
    binders: str  # "" when none
    type: str

    def as_type(self, dummy: str = "_ : unit") -> str:
        """``forall (DUMMY) BINDERS, TYPE``: the theorem's type as one term.

        The leading dummy binder keeps TYPE in a ``forall`` body, which Coq
        interprets as a type exactly like a theorem's statement (type_scope for
        ``*`` and ``+`` on types), also when there are no binders.
        """
        binders = f" {self.binders}" if self.binders else ""
        return f"forall ({dummy}){binders}, {self.type}"


_STMT_HEAD = re.compile(rf"^\s*(?:#\[[^\]]*\]\s*)?(?:(?:Local|Global)\s+)?({_STATEMENT_KW})\s+([^\s:({{\[]+)")


def parse_statement(text: str) -> Statement:
    """Take ``Theorem NAME BINDERS : TYPE.`` apart; ValueError when it is not that shape."""
    s = strip_comments(text).strip()
    m = _STMT_HEAD.match(s)
    if not m:
        raise ValueError(f"not a theorem statement: {text[:80]!r}")
    keyword, name = m.group(1), m.group(2)
    if s.endswith("."):
        s = s[:-1]
    rest = s[m.end():]
    depth, i, n = 0, 0, len(rest)
    while i < n:
        c = rest[i]
        if c == '"':
            i = _skip_string(rest, i)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == ":" and depth == 0 and not rest.startswith(":=", i) and not rest.startswith("::", i):
            binders, typ = rest[:i].strip(), rest[i + 1:].strip()
            if not typ:
                break
            return Statement(keyword, name, " ".join(binders.split()), typ)
        i += 1
    raise ValueError(f"no ':' separating binders from the statement in {text[:80]!r}")
