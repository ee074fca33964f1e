r"""First-order entailment with z3: do the premises entail the conclusion, its negation, or neither?

Formulas (:mod:`lemmaflow.tools.logic.fol`) are translated into z3 over one
uninterpreted sort (the domain; non-empty, as in standard FOL): predicates
and functions become uninterpreted functions with the arities inferred from
their use (a symbol used with two arities is an ``error``), constants become
constants of the sort. Two solver checks decide:

* premises ∧ ¬conclusion unsatisfiable → ``entailed`` (label ``True``)
* premises ∧ conclusion unsatisfiable → ``contradicted`` (label ``False``)
* both satisfiable (z3 found a model of each) → ``unknown`` (label ``Unknown``)
* both unsatisfiable → ``inconsistent``: the premises contradict themselves, so
  they "entail" everything; no label (LINC abstains: such a translation says nothing)
* z3 ran out of time → ``timeout``; z3 gave up otherwise (``unknown`` with
  another reason, e.g. incomplete quantifier instantiation) → ``error``, as are
  unparseable formulas and inconsistent signatures.

**Unique-names assumption** (``unique_names``): off by default, as in standard
FOL, Prover9 (which LINC used) and FOLIO's annotation: two constant names may
denote the same individual unless a premise says otherwise. On, every pair of
distinct constant names denotes distinct individuals (``Distinct(c1, ..., cn)``).
``benchmarks/folio_gold.py`` measures whether it changes any FOLIO label.

Every call builds its own ``z3.Context``, so calls are independent and may run
in threads concurrently (z3 contexts are not shared).

Example::

    >>> from lemmaflow.tools.logic.prover import check_entailment
    >>> r = check_entailment(["∀x (Man(x) → Mortal(x))", "Man(socrates)"], "Mortal(socrates)")
    >>> r.status, r.label
    ('entailed', 'True')
    >>> check_entailment(["∀x (Man(x) → Mortal(x))"], "Mortal(socrates)").label
    'Unknown'
    >>> check_entailment(["Man(a)"], "Man(a) ∧").status
    'error'
"""

from __future__ import annotations

import time
from typing import Literal, Sequence

from pydantic import BaseModel

from .fol import BinOp, Const, Eq, FOLError, Formula, Func, Not, Pred, Quant, Signature, Var, parse_formula

__all__ = ["EntailmentResult", "EntailmentStatus", "LABELS", "check_entailment", "to_z3"]

EntailmentStatus = Literal["entailed", "contradicted", "unknown", "inconsistent", "error", "timeout"]
LABELS = ("True", "False", "Unknown")
_LABEL_OF = {"entailed": "True", "contradicted": "False", "unknown": "Unknown"}


class EntailmentResult(BaseModel):
    status: EntailmentStatus
    message: str = ""
    time_s: float = 0.0
    backend: str = "z3"

    @property
    def label(self) -> str | None:
        """``True``/``False``/``Unknown`` for a decided problem, ``None`` otherwise (abstain)."""
        return _LABEL_OF.get(self.status)


def _z3():
    try:
        import z3
    except ImportError as e:
        raise ImportError("the logic prover needs z3: pip install z3-solver") from e
    return z3


def to_z3(formulas: Sequence[Formula], *, unique_names: bool = False, z3ctx=None):
    """Translate formulas into z3 terms in ``z3ctx`` (a new context if None).

    Returns ``(z3_formulas, extra_axioms)``; ``extra_axioms`` holds the
    unique-names axiom when asked for. Raises :class:`~.fol.SignatureError`.
    """
    z3 = _z3()
    zc = z3ctx or z3.Context()
    sig = Signature.of(formulas)
    U = z3.DeclareSort("U", zc)
    B = z3.BoolSort(zc)
    # Prefixes keep the three namespaces apart in z3 (a predicate and a constant may share a name).
    preds = {n: z3.Function(f"p_{n}", *([U] * a), B) if a else z3.Bool(f"p_{n}", zc) for n, a in sig.predicates.items()}
    funcs = {n: z3.Function(f"f_{n}", *([U] * a), U) for n, a in sig.functions.items()}
    consts = {n: z3.Const(f"c_{n}", U) for n in sig.constants}

    def term(t, env):
        if isinstance(t, Var):
            return env[t.name]
        if isinstance(t, Const):
            return consts[t.name]
        if isinstance(t, Func):
            return funcs[t.name](*[term(a, env) for a in t.args])
        raise FOLError(f"not a term: {t!r}")  # pragma: no cover

    def form(f, env):
        if isinstance(f, Pred):
            p = preds[f.name]
            return p(*[term(a, env) for a in f.args]) if f.args else p
        if isinstance(f, Eq):
            return term(f.left, env) == term(f.right, env)
        if isinstance(f, Not):
            return z3.Not(form(f.body, env), zc)
        if isinstance(f, BinOp):
            a, b = form(f.left, env), form(f.right, env)
            if f.op == "and":
                return z3.And(a, b)
            if f.op == "or":
                return z3.Or(a, b)
            if f.op == "xor":
                return z3.Xor(a, b, zc)
            if f.op == "implies":
                return z3.Implies(a, b, zc)
            return a == b  # iff
        if isinstance(f, Quant):
            # A fresh z3 constant per binder: shadowed names (∀x ... ∀x ...) stay apart.
            v = z3.FreshConst(U, prefix=f.var)
            body = form(f.body, {**env, f.var: v})
            return z3.ForAll([v], body) if f.q == "forall" else z3.Exists([v], body)
        raise FOLError(f"not a formula: {f!r}")  # pragma: no cover

    out = [form(f, {}) for f in formulas]
    extra = []
    if unique_names and len(consts) > 1:
        extra.append(z3.Distinct(*consts.values()))
    return out, extra


def _parse_all(items: Sequence[Formula | str]) -> list[Formula]:
    return [parse_formula(x) if isinstance(x, str) else x for x in items]


def check_entailment(
    premises: Sequence[Formula | str],
    conclusion: Formula | str,
    *,
    timeout_s: float = 10.0,
    unique_names: bool = False,
) -> EntailmentResult:
    """Decide whether ``premises`` entail ``conclusion``, its negation, or neither.

    Strings are parsed with :func:`~.fol.parse_formula`. Never raises for bad
    formulas or prover trouble: those are ``error``/``timeout`` results.
    ``timeout_s`` bounds each of the two solver checks.
    """
    start = time.monotonic()

    def done(status: EntailmentStatus, message: str = "") -> EntailmentResult:
        return EntailmentResult(status=status, message=message, time_s=round(time.monotonic() - start, 4))

    try:
        prem = _parse_all(premises)
        (concl,) = _parse_all([conclusion])
    except FOLError as e:
        return done("error", f"parse: {e}")
    except RecursionError:  # a hand-built Formula nested past Python's stack (parsed text is depth-checked)
        return done("error", "parse: formula nested too deeply")
    z3 = _z3()
    zc = z3.Context()
    try:
        zs, extra = to_z3([*prem, concl], unique_names=unique_names, z3ctx=zc)
    except FOLError as e:
        return done("error", f"signature: {e}")
    except RecursionError:
        return done("error", "signature: formula nested too deeply")
    *zprem, zconcl = zs
    solver = z3.Solver(ctx=zc)
    solver.set("timeout", max(1, int(timeout_s * 1000)))
    solver.add(*zprem, *extra)

    def sat_with(extra_formula):
        solver.push()
        solver.add(extra_formula)
        try:
            res = solver.check()
            reason = solver.reason_unknown() if res == z3.unknown else ""
        except z3.Z3Exception as e:  # e.g. cancelled from outside
            res, reason = z3.unknown, str(e)
        finally:
            solver.pop()
        return res, reason

    try:
        r_not, why_not = sat_with(z3.Not(zconcl, zc))  # unsat: conclusion entailed
        r_yes, why_yes = sat_with(zconcl)  # unsat: negation entailed
    except z3.Z3Exception as e:  # pragma: no cover - z3 internal failure
        return done("error", f"z3: {e}")
    if r_not == z3.unsat and r_yes == z3.unsat:
        return done("inconsistent", "the premises are unsatisfiable")
    if r_not == z3.unsat:
        return done("entailed")
    if r_yes == z3.unsat:
        return done("contradicted")
    if r_not == z3.sat and r_yes == z3.sat:
        return done("unknown")
    reason = why_not or why_yes
    if "timeout" in reason or "canceled" in reason:
        return done("timeout", f"z3: {reason} after {timeout_s:g}s per check")
    return done("error", f"z3 gave up: {reason}")
