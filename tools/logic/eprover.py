"""A second entailment backend: the E theorem prover on TPTP, to cross-check z3.

Formulas are written as TPTP ``fof`` problems (symbols renamed to plain
``p0``/``f0``/``c0`` atoms and ``X0`` variables, so FOLIO's ``’``, dots and
Unicode letters need no quoting) and E (``eprover``, Debian package
``eprover``; ``scripts/setup.sh`` installs it) is run twice, once with the
conclusion and once with its negation as the conjecture. E's SZS status decides:
``Theorem`` = entailed; ``CounterSatisfiable`` = not entailed (E saturated
without a proof); ``ContradictoryAxioms`` = the premises are inconsistent;
``ResourceOut``/``Timeout``/``GaveUp`` = undecided. The results have the same
type and meaning as :func:`lemmaflow.tools.logic.prover.check_entailment`, with
``backend="eprover"``; no unique-names assumption (TPTP has none either).

Example::

    from lemmaflow.tools.logic.eprover import check_entailment_eprover
    r = check_entailment_eprover(["∀x (Man(x) → Mortal(x))", "Man(socrates)"], "Mortal(socrates)")
    assert (r.status, r.backend) == ("entailed", "eprover")
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from typing import Sequence

from .fol import BinOp, Const, Eq, FOLError, Formula, Func, Not, Pred, Quant, Signature, Var, parse_formula
from .prover import EntailmentResult, EntailmentStatus

__all__ = ["EproverUnavailable", "check_entailment_eprover", "eprover_path", "to_tptp"]

_TPTP_OP = {"and": "&", "or": "|", "xor": "<~>", "implies": "=>", "iff": "<=>"}


class EproverUnavailable(RuntimeError):
    """``eprover`` is not installed."""


def eprover_path() -> str:
    path = shutil.which("eprover")
    if path is None:
        raise EproverUnavailable("eprover not found: apt-get install eprover (scripts/setup.sh does it as root)")
    return path


def to_tptp(premises: Sequence[Formula], conclusion: Formula) -> str:
    """A TPTP FOF problem: the premises as axioms, ``conclusion`` as the conjecture."""
    sig = Signature.of([*premises, conclusion])
    names = {("p", n): f"p{i}" for i, n in enumerate(sig.predicates)}
    names |= {("f", n): f"f{i}" for i, n in enumerate(sig.functions)}
    names |= {("c", n): f"c{i}" for i, n in enumerate(sig.constants)}
    counter = iter(range(10**9))

    def term(t, env) -> str:
        if isinstance(t, Var):
            return env[t.name]
        if isinstance(t, Const):
            return names[("c", t.name)]
        if isinstance(t, Func):
            return f"{names[('f', t.name)]}({','.join(term(a, env) for a in t.args)})"
        raise FOLError(f"not a term: {t!r}")  # pragma: no cover

    def form(f, env) -> str:
        if isinstance(f, Pred):
            p = names[("p", f.name)]
            return f"{p}({','.join(term(a, env) for a in f.args)})" if f.args else p
        if isinstance(f, Eq):
            return f"({term(f.left, env)} = {term(f.right, env)})"
        if isinstance(f, Not):
            return f"~({form(f.body, env)})"
        if isinstance(f, BinOp):
            return f"({form(f.left, env)} {_TPTP_OP[f.op]} {form(f.right, env)})"
        if isinstance(f, Quant):
            v = f"X{next(counter)}"  # fresh per binder, so shadowing is harmless
            q = "!" if f.q == "forall" else "?"
            return f"({q}[{v}]: {form(f.body, {**env, f.var: v})})"
        raise FOLError(f"not a formula: {f!r}")  # pragma: no cover

    lines = [f"fof(a{i}, axiom, {form(p, {})})." for i, p in enumerate(premises)]
    lines.append(f"fof(goal, conjecture, {form(conclusion, {})}).")
    return "\n".join(lines) + "\n"


def _szs(problem: str, timeout_s: float) -> str:
    cpu = max(1, int(round(timeout_s)))
    try:
        out = subprocess.run(
            [eprover_path(), "--auto", "--tstp-format", "-s", f"--cpu-limit={cpu}"],
            input=problem, capture_output=True, text=True, timeout=cpu + 5,
        )
    except subprocess.TimeoutExpired:
        return "Timeout"
    m = re.search(r"SZS status (\w+)", out.stdout)
    return m.group(1) if m else f"no SZS status (exit {out.returncode}: {out.stderr.strip()[:200]})"


def check_entailment_eprover(
    premises: Sequence[Formula | str], conclusion: Formula | str, *, timeout_s: float = 10.0,
) -> EntailmentResult:
    """Like :func:`~.prover.check_entailment`, decided by E. Raises :class:`EproverUnavailable`."""
    eprover_path()
    start = time.monotonic()

    def done(status: EntailmentStatus, message: str = "") -> EntailmentResult:
        return EntailmentResult(status=status, message=message, time_s=round(time.monotonic() - start, 4),
                                backend="eprover")

    try:
        prem = [parse_formula(p) if isinstance(p, str) else p for p in premises]
        concl = parse_formula(conclusion) if isinstance(conclusion, str) else conclusion
        pos, neg = to_tptp(prem, concl), to_tptp(prem, Not(concl))
    except FOLError as e:
        return done("error", str(e))
    s_pos, s_neg = _szs(pos, timeout_s), _szs(neg, timeout_s)
    if "ContradictoryAxioms" in (s_pos, s_neg) or s_pos == s_neg == "Theorem":
        return done("inconsistent", "the premises are unsatisfiable")
    if s_pos == "Theorem":
        return done("entailed")
    if s_neg == "Theorem":
        return done("contradicted")
    if s_pos == "CounterSatisfiable" and s_neg == "CounterSatisfiable":
        return done("unknown")
    undecided = {"ResourceOut", "Timeout", "GaveUp"}
    if s_pos in undecided or s_neg in undecided:
        return done("timeout", f"E: {s_pos} / {s_neg} (cpu limit {timeout_s:g}s)")
    return done("error", f"E: {s_pos} / {s_neg}")
