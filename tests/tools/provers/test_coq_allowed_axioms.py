"""The allowed-axiom list matches ``Print Assumptions`` names by qualified suffix: prove that is safe.

``Print Assumptions`` prints an axiom by its shortest unambiguous name, so the check accepts every
suffix of an allowed full name (``classic``, ``Classical_Prop.classic``, ...). That also accepts any
*other* global axiom of the installed standard library that happens to share a suffix — today
``Coq.Logic.ClassicalEpsilon.constructive_indefinite_description`` shares the short name of the
allowed ``Coq.Logic.IndefiniteDescription`` axiom. This is sound only while every such namesake
states exactly the same proposition; these tests read the installed library and fail the day a
Coq release adds a namesake with another statement (then the list must switch to full names).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lemmaflow.tools.provers import ProofTask, coq_check
from lemmaflow.tools.provers.coqc import CoqcProver

pytestmark = pytest.mark.skipif(shutil.which("coqc") is None, reason="coqc is not installed (scripts/setup.sh installs it)")

# Global declarations and the (non-type) modules around them; axioms of a ``Module Type`` are
# parameters of a functor, not global axioms, and are skipped.
_TOKEN = re.compile(r"^(?:(Module\s+Type|Module)\s+(\w+)\s*\.|End\s+(\w+)\s*\.|"
                    r"(?:Axiom|Parameter|Conjecture)\s+(\w+)\s*:((?:.|\n)*?)\.(?:\s|$))", re.M)


def _stdlib_axioms() -> dict[str, list[tuple[str, str]]]:
    """short name -> [(logical module path, statement with whitespace normalised)] over the installed stdlib."""
    root = Path(subprocess.run(["coqc", "-where"], capture_output=True, text=True, check=True).stdout.strip()) / "theories"
    found: dict[str, list[tuple[str, str]]] = {}
    for f in root.rglob("*.v"):
        file_module = "Coq." + ".".join(f.relative_to(root).with_suffix("").parts)
        stack: list[tuple[str, bool]] = []  # (module name, is a module type)
        for m in _TOKEN.finditer(f.read_text(errors="replace")):
            kind, name, end, axiom, statement = m.groups()
            if kind:
                stack.append((name, kind != "Module"))
            elif end:
                if stack and stack[-1][0] == end:
                    stack.pop()
            elif not any(is_type for _, is_type in stack):
                module = ".".join([file_module, *(n for n, _ in stack)])
                found.setdefault(axiom, []).append((module, " ".join(statement.split())))
    return found


def test_every_allowed_axiom_exists_in_the_installed_library():
    found = _stdlib_axioms()
    for full in coq_check.ALLOWED_AXIOMS:
        module, _, short = full.rpartition(".")
        assert (module in {m for m, _ in found.get(short, [])}), full


def test_namesakes_of_allowed_axioms_state_the_same_proposition():
    found = _stdlib_axioms()
    checked = 0
    for full in coq_check.ALLOWED_AXIOMS:
        module, _, short = full.rpartition(".")
        decls = found.get(short, [])
        allowed = [s for m, s in decls if m == module]
        for m, statement in decls:
            if m != module and allowed:
                checked += 1
                assert statement == allowed[0], (
                    f"{m}.{short} shares the short name of the allowed {full} but states something else: "
                    "the suffix match in coq_check would accept it")
    assert checked >= 1  # ClassicalEpsilon's namesake exists in Coq 8.16: the test looked at something


def test_a_proof_through_the_namesake_axiom_is_accepted_and_an_unlisted_axiom_is_not():
    header = "Require Import Coq.Logic.ClassicalEpsilon.\n"
    statement = "Theorem pick : forall (P : nat -> Prop), (exists n, P n) -> { n : nat | P n }."
    ok = ProofTask(name="pick", header=header, statement=statement,
                   proof="Proof. intros P H. exact (constructive_indefinite_description P H). Qed.")
    # extensional_function_representative: a global stdlib axiom that is not on the list
    # (JMeq_eq, the usual example, is a theorem from eq_rect_eq since Coq 8.x).
    bad = ProofTask(name="rep", header="Require Import Coq.Logic.ExtensionalFunctionRepresentative.\n",
                    statement="Theorem rep : exists r : (nat -> nat) -> nat -> nat, forall f x, f x = r f x.",
                    proof="Proof. destruct (extensional_function_representative nat nat) as [r H]. "
                          "exists r. intros f x. apply (proj1 (H f)). Qed.")
    with CoqcProver() as prover:
        r = prover.check(ok)
        assert r.proved, r.reason
        assert any("constructive_indefinite_description" in a for a in r.axioms)
        r_bad = prover.check(bad)
        assert not r_bad.proved
        assert "extensional_function_representative" in (r_bad.reason or ""), r_bad.reason
