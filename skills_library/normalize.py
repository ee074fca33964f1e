"""Normalized content hashes: two entries that differ only in layout or comments hash the same.

- python: the ``ast`` dump (no positions), with docstrings removed, so whitespace, comments,
  quoting style and docstring edits do not matter. Code that does not parse falls back to the
  generic rule (comments after ``#`` dropped, whitespace collapsed).
- coq: ``(* ... *)`` comments removed (they nest), whitespace collapsed.
- lean4: ``-- ...`` line comments and ``/- ... -/`` block comments (nesting) removed, whitespace
  collapsed.

Comment markers inside string literals are not special-cased for Coq/Lean (rare in lemmas).

Example::

    from lemmaflow.skills_library.normalize import content_hash
    a = content_hash("tool", "python", "def f(x):\\n    return x+1  # inc")
    b = content_hash("tool", "python", "def f(x):\\n    '''Add one.'''\\n    return (x + 1)")
    assert a == b
"""

from __future__ import annotations

import ast
import hashlib
import re

__all__ = ["STOPWORDS", "content_hash", "normalize_source", "query_words", "same_statement"]

_WS = re.compile(r"\s+")


def _strip_nested(text: str, open_: str, close: str) -> str:
    out, depth, i = [], 0, 0
    while i < len(text):
        if text.startswith(open_, i):
            depth += 1
            i += len(open_)
        elif depth and text.startswith(close, i):
            depth -= 1
            i += len(close)
            if depth == 0:
                out.append(" ")
        else:
            if not depth:
                out.append(text[i])
            i += 1
    return "".join(out)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def normalize_source(language: str, text: str) -> str:
    """The layout- and comment-insensitive form of ``text`` used for hashing."""
    if language == "python":
        try:
            return ast.dump(_strip_docstrings(ast.parse(text)), annotate_fields=False, include_attributes=False)
        except (SyntaxError, ValueError, RecursionError):
            text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    elif language == "coq":
        text = _strip_nested(text, "(*", "*)")
    elif language == "lean4":
        text = _strip_nested(text, "/-", "-/")
        text = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
    return _WS.sub(" ", text).strip()


def content_hash(kind: str, language: str, source: str, statement: str = "") -> str:
    """sha256 over kind, language and the normalized statement and source."""
    blob = "\x00".join([kind, language, normalize_source(language, statement), normalize_source(language, source)])
    return hashlib.sha256(blob.encode()).hexdigest()


def same_statement(new, old) -> bool:
    """A cheap near-duplicate confirmation: same kind and language, equal normalized statements,
    and (for tools) the same tests. Callers that can run tests in a sandbox should prefer that."""
    if (new.kind, new.language) != (old.kind, old.language):
        return False
    if normalize_source(new.language, new.statement) != normalize_source(old.language, old.statement):
        return False
    return new.kind == "lemma" or sorted(new.tests) == sorted(old.tests)


_QUERY_WORD = re.compile(r"\w+", re.UNICODE)

# Function words that, OR'ed into a full-text query, match nearly everything and only add noise
# (also left out of the hashing embedder's tokens).
STOPWORDS = frozenset(
    "a an and are as at be by does for from how in into is it its of on or that the this to what when "
    "whether which with".split()
)


def query_words(text: str) -> list[str]:
    """The distinct lowercased words of a user query, without stopwords (all of them if only stopwords)."""
    words = list(dict.fromkeys(w.lower() for w in _QUERY_WORD.findall(text)))
    return [w for w in words if w not in STOPWORDS] or words
