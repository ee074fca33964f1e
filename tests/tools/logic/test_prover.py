"""z3 entailment: every status, the unique-names switch, and bad input as results."""

import doctest
import threading

from lemmaflow.tools.logic import prover
from lemmaflow.tools.logic.fol import parse_formula
from lemmaflow.tools.logic.prover import check_entailment

MORTAL = ["∀x (Man(x) → Mortal(x))", "Man(socrates)"]


def test_module_examples():
    assert doctest.testmod(prover).failed == 0


def test_entailed_contradicted_unknown():
    assert check_entailment(MORTAL, "Mortal(socrates)").status == "entailed"
    r = check_entailment(MORTAL + ["∀x (Mortal(x) → ¬God(x))"], "God(socrates)")
    assert (r.status, r.label) == ("contradicted", "False")
    r = check_entailment(MORTAL, "Mortal(plato)")
    assert (r.status, r.label) == ("unknown", "Unknown")


def test_quantifier_reasoning_needs_a_real_prover():
    # Existential witness + universal rule: True only by reasoning over the domain.
    prem = ["∃x (Dog(x) ∧ Barks(x))", "∀x (Barks(x) → Loud(x))"]
    assert check_entailment(prem, "∃y (Dog(y) ∧ Loud(y))").label == "True"
    assert check_entailment(prem, "∀y (Dog(y) → Loud(y))").label == "Unknown"
    # xor and iff semantics
    assert check_entailment(["A ⊕ B", "A"], "¬B").label == "True"
    assert check_entailment(["A ↔ B", "¬A"], "B").label == "False"


def test_inconsistent_premises_are_not_a_label():
    r = check_entailment(["P(a)", "¬P(a)"], "Q(b)")
    assert r.status == "inconsistent" and r.label is None


def test_unique_names_assumption_matters_only_when_names_must_differ():
    prem = ["∀x ∀y ∀z (Love(x, y) ∧ Love(x, z) → y = z)", "Love(james, summer)"]
    # Without it, summer and fall may name the same season.
    assert check_entailment(prem, "Love(james, fall)").label == "Unknown"
    assert check_entailment(prem, "Love(james, fall)", unique_names=True).label == "False"
    assert check_entailment(["P(a)"], "a ≠ b").label == "Unknown"
    assert check_entailment(["P(a)"], "a ≠ b", unique_names=True).label == "True"


def test_errors_are_results_not_exceptions():
    r = check_entailment(["P(a)"], "P(a) ∧")
    assert r.status == "error" and "parse" in r.message and r.label is None
    r = check_entailment(["P(a)"], "P(a, b)")
    assert r.status == "error" and "used with 1 and with 2" in r.message


def test_timeout_is_reported():
    # Takes z3 ~20 ms to refute (the premises are inconsistent); 1 ms is not enough.
    prem = ["∀x ∀y (R(x, y) → R(y, f(x)))", "∀x ∃y R(x, y)", "∀x ¬R(x, x)",
            "∀x ∀y ∀z (R(x, y) ∧ R(y, z) → R(x, z))"]
    r = check_entailment(prem, "∃x R(f(x), x)", timeout_s=0.001)
    assert r.status == "timeout" and r.label is None and "z3" in r.message, r
    assert check_entailment(prem, "∃x R(f(x), x)", timeout_s=10).status == "inconsistent"


def test_accepts_parsed_formulas_and_runs_in_threads():
    prem = [parse_formula(p) for p in MORTAL]
    out = []
    threads = [threading.Thread(target=lambda: out.append(check_entailment(prem, "Mortal(socrates)").label))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == ["True"] * 4
