r"""First-order logic: a small documented syntax, parsed with lark into a typed AST.

The syntax is the one FOLIO's gold annotations use, plus ASCII spellings that
language models (and LINC's Prover9-style prompts) tend to write:

================  =====================================  ==============================
construct         Unicode                                ASCII alternatives
================  =====================================  ==============================
for all           ``∀x (...)``, ``∀x ∀y (...)``          ``forall x.``, ``all x.``, ``forall x, y.``
exists            ``∃x (...)``                           ``exists x.``, ``some x.``
not               ``¬A``                                 ``~A``, ``!A``, ``-A``
and / or          ``A ∧ B`` / ``A ∨ B``                  ``A & B`` / ``A | B``
exclusive or      ``A ⊕ B``                              ``A ^ B``, ``A xor B``
implies           ``A → B``                              ``A -> B``, ``A => B``
iff               ``A ↔ B``, ``A ⟷ B``                   ``A <-> B``, ``A <=> B``
equality          ``a = b``, ``a ≠ b``                   ``a != b``
atoms             ``Pred(t1, ..., tn)``, ``Prop``        (0-ary predicates: a bare name)
terms             variables, constants, ``f(t, ...)``
================  =====================================  ==============================

Binding strength, tightest first: ``¬``, ``∧``, ``∨``, ``⊕``, ``→`` (right
associative), ``↔`` (left associative). A quantifier's scope extends as far
right as possible (``∀x P(x) → Q(x)`` is ``∀x (P(x) → Q(x))``), the NLTK and
Prover9 convention; an optional ``.`` may follow its variables. A name in a
term position is a **variable** if an enclosing quantifier binds it, otherwise
a **constant** (FOLIO writes constants in lower case, ``bonnie``, ``kO``,
``dani_Shapiro``). Names are (Unicode) letters, digits and ``_``, starting
with a letter or ``_`` (FOLIO's ``LostToIgaŚwiątek``), may contain the
apostrophes ``'``/``’`` (FOLIO's ``GrowthCompanies’Stocks``) and a dot directly
followed by a digit (FOLIO's ``y42.3billion``); ``forall`` and friends are
reserved words.

Example::

    >>> from lemmaflow.tools.logic.fol import parse_formula
    >>> f = parse_formula("forall x. Man(x) -> Mortal(x)")
    >>> str(f)
    '∀x (Man(x) → Mortal(x))'
    >>> f == parse_formula("∀x (Man(x) → Mortal(x))")
    True
    >>> parse_formula("Man(socrates) ∧")
    Traceback (most recent call last):
    ...
    lemmaflow.tools.logic.fol.FOLSyntaxError: unexpected end of formula at column 16 in 'Man(socrates) ∧'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator, Literal, Union

__all__ = [
    "BinOp",
    "Const",
    "Eq",
    "FOLError",
    "FOLSyntaxError",
    "Formula",
    "Func",
    "Not",
    "Pred",
    "Quant",
    "Signature",
    "SignatureError",
    "Term",
    "Var",
    "parse_formula",
]


class FOLError(ValueError):
    """Base of the logic module's errors."""


class FOLSyntaxError(FOLError):
    """The text is not a formula of the documented syntax; the message says where."""


class SignatureError(FOLError):
    """A symbol is used with two arities or in two roles (predicate, function, constant)."""


# ---------------------------------------------------------------- AST


@dataclass(frozen=True)
class Var:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Const:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Func:
    name: str
    args: tuple["Term", ...]

    def __str__(self) -> str:
        return f"{self.name}({', '.join(map(str, self.args))})"


Term = Union[Var, Const, Func]


@dataclass(frozen=True)
class Pred:
    name: str
    args: tuple[Term, ...] = ()

    def __str__(self) -> str:
        return f"{self.name}({', '.join(map(str, self.args))})" if self.args else self.name


@dataclass(frozen=True)
class Eq:
    left: Term
    right: Term

    def __str__(self) -> str:
        return f"{self.left} = {self.right}"


@dataclass(frozen=True)
class Not:
    body: "Formula"

    def __str__(self) -> str:
        if isinstance(self.body, Eq):
            return f"{self.body.left} ≠ {self.body.right}"
        return f"¬{_wrap(self.body)}"


BinOpKind = Literal["and", "or", "xor", "implies", "iff"]
_OP_SYMBOL = {"and": "∧", "or": "∨", "xor": "⊕", "implies": "→", "iff": "↔"}


@dataclass(frozen=True)
class BinOp:
    op: BinOpKind
    left: "Formula"
    right: "Formula"

    def __str__(self) -> str:
        return f"{_wrap(self.left)} {_OP_SYMBOL[self.op]} {_wrap(self.right)}"


@dataclass(frozen=True)
class Quant:
    q: Literal["forall", "exists"]
    var: str
    body: "Formula"

    def __str__(self) -> str:
        sym = "∀" if self.q == "forall" else "∃"
        body = str(self.body) if isinstance(self.body, Quant) else f"({self.body})"
        return f"{sym}{self.var} {body}"


Formula = Union[Pred, Eq, Not, BinOp, Quant]


def _wrap(f: Formula) -> str:
    # Printing fully parenthesises binary sub-formulas, so str() round-trips
    # through the parser without relying on precedence.
    return f"({f})" if isinstance(f, (BinOp, Quant)) else str(f)


# ---------------------------------------------------------------- grammar

# Each level L comes in two forms: L_nq cannot end in a bare quantifier, L_q
# does. A quantifier may only stand as the *last* operand, so its scope runs to
# the end of the enclosing parentheses and the grammar stays unambiguous (LALR).
_GRAMMAR = r"""
?start: formula

?formula: iff_nq | iff_q

?iff_nq: imp_nq | iff_nq IFF imp_nq
?iff_q: imp_q | iff_nq IFF imp_q

?imp_nq: xor_nq | xor_nq IMP imp_nq
?imp_q: xor_q | xor_nq IMP imp_q

?xor_nq: or_nq | xor_nq XOR or_nq
?xor_q: or_q | xor_nq XOR or_q

?or_nq: and_nq | or_nq OR and_nq
?or_q: and_q | or_nq OR and_q

?and_nq: unary_nq | and_nq AND unary_nq
?and_q: unary_q | and_nq AND unary_q

?unary_nq: NOT unary_nq -> negation | atom | "(" formula ")"
?unary_q: NOT unary_q -> negation | quantified

quantified: QUANT varlist formula
varlist: NAME ("," NAME)* "."?

?atom: predicate | equality | inequality
predicate: NAME ("(" [term ("," term)*] ")")?
equality: term "=" term
inequality: term NEQ term
?term: NAME -> symbol
     | NAME "(" term ("," term)* ")" -> function

QUANT.2: "∀" | "∃" | /(forall|exists|all|some)\b/
NOT: "¬" | "~" | "!" | "-"
AND: "∧" | "&&" | "&"
OR: "∨" | "||" | "|"
XOR.2: "⊕" | "^" | /xor\b/
IMP: "→" | "->" | "=>"
IFF: "↔" | "⟷" | "<->" | "<=>"
NEQ: "≠" | "!="
NAME: /(?!(forall|exists|all|some|xor)\b)[^\W\d][\w'’]*(\.\d[\w'’]*)*/

%import common.WS
%ignore WS
"""


@lru_cache(maxsize=1)
def _parser():
    try:
        from lark import Lark
    except ImportError as e:  # pragma: no cover - lark is a core dependency
        raise ImportError("the FOL parser needs lark: pip install lark") from e
    return Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)


_RULE_OP: dict[str, BinOpKind] = {
    "iff_q": "iff", "iff_nq": "iff", "imp_q": "implies", "imp_nq": "implies", "xor_q": "xor", "xor_nq": "xor",
    "or_q": "or", "or_nq": "or", "and_q": "and", "and_nq": "and",
}


def _to_formula(tree, bound: frozenset[str]) -> Formula:
    """Lark tree -> AST, resolving names against the quantifiers in scope."""
    from lark import Token

    data = tree.data
    kids = [k for k in tree.children if not (isinstance(k, Token) and k.type in {"IFF", "IMP", "XOR", "OR", "AND", "NOT", "NEQ"})]
    if data in _RULE_OP:
        left, right = kids
        op = _RULE_OP[data]
        return BinOp(op, _to_formula(left, bound), _to_formula(right, bound))
    if data == "negation":
        return Not(_to_formula(kids[0], bound))
    if data == "quantified":
        q_tok, varlist, body = tree.children
        q = "forall" if str(q_tok) in {"∀", "forall", "all"} else "exists"
        names = [str(t) for t in varlist.children]
        inner = bound | frozenset(names)
        f = _to_formula(body, inner)
        for name in reversed(names):
            f = Quant(q, name, f)
        return f
    if data == "predicate":
        name, *args = tree.children
        return Pred(str(name), tuple(_to_term(a, bound) for a in args))
    if data == "equality":
        return Eq(_to_term(kids[0], bound), _to_term(kids[1], bound))
    if data == "inequality":
        return Not(Eq(_to_term(kids[0], bound), _to_term(kids[1], bound)))
    raise FOLError(f"internal: unexpected parse node {data!r}")  # pragma: no cover


def _to_term(tree, bound: frozenset[str]) -> Term:
    from lark import Token

    if isinstance(tree, Token):  # predicate arguments come as bare NAME tokens only via 'symbol'
        name = str(tree)
        return Var(name) if name in bound else Const(name)
    if tree.data == "symbol":
        name = str(tree.children[0])
        return Var(name) if name in bound else Const(name)
    name, *args = tree.children
    if str(name) in bound:
        raise FOLSyntaxError(f"bound variable {name} is applied like a function")
    return Func(str(name), tuple(_to_term(a, bound) for a in args))


_TOKEN_NAMES = {
    "$END": "end of formula", "LPAR": "(", "RPAR": ")", "COMMA": ",", "DOT": ".", "EQUAL": "=", "NEQ": "≠",
    "AND": "∧", "OR": "∨", "XOR": "⊕", "IMP": "→", "IFF": "↔", "NOT": "¬", "QUANT": "∀/∃", "NAME": "a name",
}


# Deeper formulas would exhaust Python's recursion in the tree walks below and in z3's
# conversion. Real premises (FOLIO, ProofWriter) nest under 20 levels; 500 is far past any
# sentence and still well inside the limit (measured: 600 levels parse and check).
MAX_FORMULA_DEPTH = 500
_NESTING = frozenset({"AND", "OR", "XOR", "IMP", "IFF", "NOT", "QUANT"})


def _check_depth(text: str) -> None:
    """Refuse, before parsing, a formula whose tree could nest deeper than MAX_FORMULA_DEPTH.

    Connectives and quantifiers, plus the deepest parenthesis nesting, bound the tree's depth
    from above; lexing is linear and recursion-free.
    """
    from lark.exceptions import LarkError

    depth = level = 0
    try:
        for tok in _parser().lex(text):
            if tok.type == "LPAR":
                level += 1
                depth = max(depth, level)
            elif tok.type == "RPAR":
                level -= 1
            elif tok.type in _NESTING:
                depth += 1
            if depth > MAX_FORMULA_DEPTH:
                raise FOLSyntaxError(f"formula nests deeper than {MAX_FORMULA_DEPTH} levels "
                                     f"(connectives, quantifiers and parentheses); {len(text)} characters")
    except LarkError:
        return  # a lexing error: the parser below reports it with its position


def parse_formula(text: str) -> Formula:
    """Parse one formula of the documented syntax; raises :class:`FOLSyntaxError`."""
    from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    if not isinstance(text, str) or not text.strip():
        raise FOLSyntaxError("empty formula")
    _check_depth(text)
    try:
        tree = _parser().parse(text)
    except UnexpectedToken as e:
        if e.token.type == "$END":
            raise FOLSyntaxError(f"unexpected end of formula at column {len(text) + 1} in {text!r}") from None
        raise FOLSyntaxError(
            f"unexpected {str(e.token)!r} at column {e.column} in {text!r} "
            f"(expected one of: {', '.join(sorted(_TOKEN_NAMES.get(t, t) for t in e.expected))})"
        ) from None
    except UnexpectedCharacters as e:
        raise FOLSyntaxError(f"unexpected character {text[e.pos_in_stream]!r} at column {e.column} in {text!r}") from None
    except UnexpectedEOF:
        raise FOLSyntaxError(f"unexpected end of formula in {text!r}") from None
    except LarkError as e:  # pragma: no cover - any other lark failure is still a syntax error
        raise FOLSyntaxError(f"{text!r}: {e}") from None
    return _to_formula(tree, frozenset())


# ---------------------------------------------------------------- signature


def subformulas(f: Formula) -> Iterator[Formula]:
    yield f
    if isinstance(f, Not):
        yield from subformulas(f.body)
    elif isinstance(f, BinOp):
        yield from subformulas(f.left)
        yield from subformulas(f.right)
    elif isinstance(f, Quant):
        yield from subformulas(f.body)


def _terms(t: Term) -> Iterator[Term]:
    yield t
    if isinstance(t, Func):
        for a in t.args:
            yield from _terms(a)


@dataclass(frozen=True)
class Signature:
    """Predicates and functions with their arities, and the constants, of a set of formulas."""

    predicates: dict[str, int]
    functions: dict[str, int]
    constants: tuple[str, ...]

    @classmethod
    def of(cls, formulas: Iterable[Formula]) -> "Signature":
        """Infer the signature; raises :class:`SignatureError` on inconsistent use."""
        preds: dict[str, int] = {}
        funcs: dict[str, int] = {}
        consts: dict[str, None] = {}  # ordered set

        def note(table: dict[str, int], role: str, name: str, arity: int) -> None:
            if table.setdefault(name, arity) != arity:
                raise SignatureError(f"{role} {name} is used with {table[name]} and with {arity} arguments")

        for f in formulas:
            for sub in subformulas(f):
                terms: tuple[Term, ...] = ()
                if isinstance(sub, Pred):
                    note(preds, "predicate", sub.name, len(sub.args))
                    terms = sub.args
                elif isinstance(sub, Eq):
                    terms = (sub.left, sub.right)
                for top in terms:
                    for t in _terms(top):
                        if isinstance(t, Func):
                            note(funcs, "function", t.name, len(t.args))
                        elif isinstance(t, Const):
                            consts[t.name] = None
        for name in funcs:
            if name in preds:
                raise SignatureError(f"{name} is used both as a predicate and as a function")
            if name in consts:
                raise SignatureError(f"{name} is used both as a function and as a constant")
        return cls(preds, funcs, tuple(consts))
