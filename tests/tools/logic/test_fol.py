"""The FOL grammar: FOLIO's notation, ASCII alternatives, precedence, scope, errors, signatures."""

import doctest
import json

import pytest

from lemmaflow.tools.datasets import dataset_path
from lemmaflow.tools.logic import fol
from lemmaflow.tools.logic.fol import (
    BinOp, Const, Eq, FOLSyntaxError, Func, Not, Pred, Quant, Signature, SignatureError, Var, parse_formula,
)


def test_module_examples():
    assert doctest.testmod(fol).failed == 0


@pytest.mark.parametrize("unicode, ascii_", [
    ("∀x (Man(x) → Mortal(x))", "forall x. Man(x) -> Mortal(x)"),
    ("∀x (Man(x) → Mortal(x))", "all x. (Man(x) => Mortal(x))"),
    ("∃x (P(x) ∧ ¬Q(x))", "exists x. P(x) & ~Q(x)"),
    ("∃x (P(x) ∧ ¬Q(x))", "some x. P(x) && !Q(x)"),
    ("P(a) ∨ Q(a)", "P(a) | Q(a)"),
    ("P(a) ⊕ Q(a)", "P(a) ^ Q(a)"),
    ("P(a) ⊕ Q(a)", "P(a) xor Q(a)"),
    ("P(a) ↔ Q(a)", "P(a) <-> Q(a)"),
    ("P(a) ⟷ Q(a)", "P(a) <=> Q(a)"),
    ("∀x ∀y (R(x, y) → R(y, x))", "forall x, y. R(x,y) -> R(y,x)"),
    ("a ≠ b", "a != b"),
    ("a ≠ b", "¬(a = b)"),
])
def test_ascii_alternatives_parse_to_the_same_ast(unicode, ascii_):
    assert parse_formula(unicode) == parse_formula(ascii_)


def test_precedence_and_associativity():
    a, b, c = Pred("A"), Pred("B"), Pred("C")
    assert parse_formula("A ∧ B ∨ C") == BinOp("or", BinOp("and", a, b), c)
    assert parse_formula("A ∨ B ∧ C") == BinOp("or", a, BinOp("and", b, c))
    assert parse_formula("A ∨ B ⊕ C") == BinOp("xor", BinOp("or", a, b), c)
    assert parse_formula("A ⊕ B → C") == BinOp("implies", BinOp("xor", a, b), c)
    assert parse_formula("A → B → C") == BinOp("implies", a, BinOp("implies", b, c))
    assert parse_formula("A → B ↔ C") == BinOp("iff", BinOp("implies", a, b), c)
    assert parse_formula("¬A ∧ B") == BinOp("and", Not(a), b)


def test_quantifier_scope_extends_right_and_binds_variables():
    f = parse_formula("P(a) ∧ ∀x Q(x) ∨ R(x, a)")
    x, a = Var("x"), Const("a")
    assert f == BinOp("and", Pred("P", (a,)), Quant("forall", "x", BinOp("or", Pred("Q", (x,)), Pred("R", (x, a)))))
    # Parenthesised, the quantifier stops at the bracket and a later x is a constant.
    g = parse_formula("(∀x Q(x)) ∧ R(x)")
    assert g == BinOp("and", Quant("forall", "x", Pred("Q", (x,))), Pred("R", (Const("x"),)))
    assert parse_formula("¬∃x P(x)") == Not(Quant("exists", "x", Pred("P", (x,))))


def test_terms_equality_functions_and_propositions():
    assert parse_formula("father(a) = b") == Eq(Func("father", (Const("a"),)), Const("b"))
    assert parse_formula("Raining → Wet(street)") == BinOp("implies", Pred("Raining"), Pred("Wet", (Const("street"),)))
    assert parse_formula("∀x Loves(x, mother(x))") == Quant(
        "forall", "x", Pred("Loves", (Var("x"), Func("mother", (Var("x"),)))))


def test_folio_names():
    assert parse_formula("ValuedAt(yalesendowment, y42.3billion)").args[1] == Const("y42.3billion")
    assert parse_formula("MatureCompanies’Stocks(kO)").name == "MatureCompanies’Stocks"
    assert parse_formula("¬LostToIgaŚwiątek(cocoGauff)").body.name == "LostToIgaŚwiątek"
    assert parse_formula("IsWriter(dani_Shapiro)").args == (Const("dani_Shapiro"),)


def test_str_round_trips():
    for text in ["∀x ∃y (R(x, y) ⊕ ¬(x = y))", "A ∧ B ∨ C → D ↔ E", "P(a) ∧ ∀x Q(x) ∨ R(x)", "a ≠ f(b, c)"]:
        f = parse_formula(text)
        assert parse_formula(str(f)) == f


@pytest.mark.parametrize("bad, where", [
    ("Man(socrates) ∧", "end of formula"),
    ("(P(a) ∧ Q(a)) ∨ ¬P(a) ∧ ¬Q(a))", "unexpected ')' at column 30 in"),
    ("∀x (P(x), Q(x))", "unexpected ','"),
    ("P(a) # Q(a)", "unexpected character '#'"),
    ("", "empty formula"),
    ("∀ (P(x))", "unexpected"),
])
def test_syntax_errors_say_where(bad, where):
    with pytest.raises(FOLSyntaxError) as e:
        parse_formula(bad)
    assert where in str(e.value)


def test_signature_inference_and_conflicts():
    sig = Signature.of([parse_formula("∀x (P(x) → R(x, c))"), parse_formula("f(a) = b")])
    assert sig.predicates == {"P": 1, "R": 2} and sig.functions == {"f": 1} and set(sig.constants) == {"c", "a", "b"}
    with pytest.raises(SignatureError, match="P is used with 1 and with 2"):
        Signature.of([parse_formula("P(a)"), parse_formula("P(a, b)")])
    with pytest.raises(SignatureError, match="both as a predicate and as a function"):
        Signature.of([parse_formula("P(a)"), parse_formula("Q(P(a))")])


def test_every_folio_gold_formula_parses_except_the_malformed_ones():
    """Scan all of FOLIO's gold FOL: only the documented malformed formulas fail."""
    path = dataset_path("folio") / "folio-validation.jsonl"
    failed = set()
    total = 0
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        row = json.loads(line)
        for text in row["premises-FOL"] + [row["conclusion-FOL"]]:
            total += 1
            try:
                parse_formula(text)
            except FOLSyntaxError:
                failed.add(i)
    assert total > 1000
    # 2, 108-110: unbalanced ')'; 87: ',' used as a conjunction.
    assert failed == {2, 87, 108, 109, 110}
