"""E prover backend: TPTP translation and agreement with z3 on real problems."""

import shutil

import pytest

from lemmaflow.tools.datasets import load_folio
from lemmaflow.tools.logic.eprover import check_entailment_eprover, to_tptp
from lemmaflow.tools.logic.fol import parse_formula
from lemmaflow.tools.logic.prover import check_entailment

pytestmark = pytest.mark.skipif(shutil.which("eprover") is None, reason="eprover not installed (scripts/setup.sh installs it)")


def test_tptp_renames_symbols_and_keeps_structure():
    text = to_tptp([parse_formula("∀x (MatureCompanies’Stocks(x) → V(x, y42.3billion))")], parse_formula("A ⊕ f(b) ≠ b"))
    assert text.splitlines() == [
        "fof(a0, axiom, (![X0]: (p0(X0) => p1(X0,c0)))).",
        "fof(goal, conjecture, (p2 <~> ~((f0(c1) = c1)))).",
    ]


@pytest.mark.parametrize("premises, conclusion, status", [
    (["∀x (Man(x) → Mortal(x))", "Man(socrates)"], "Mortal(socrates)", "entailed"),
    (["∀x (Man(x) → Mortal(x))", "Man(socrates)"], "¬Mortal(socrates)", "contradicted"),
    (["∀x (Man(x) → Mortal(x))"], "Mortal(socrates)", "unknown"),
    (["P(a)", "¬P(a)"], "Q(b)", "inconsistent"),
    (["P(a)"], "P(a) ∧", "error"),
])
def test_statuses_match_z3(premises, conclusion, status):
    assert check_entailment_eprover(premises, conclusion).status == status
    assert check_entailment(premises, conclusion).status == status


def test_agrees_with_z3_on_folio_gold_fol_sample():
    for p in load_folio(limit=20):
        e = check_entailment_eprover(p.meta["premises_fol"], p.meta["conclusion_fol"])
        z = check_entailment(p.meta["premises_fol"], p.meta["conclusion_fol"])
        assert e.status == z.status, p.id
