"""First-order logic: a documented FOL syntax (lark parser, typed AST) and entailment checking (z3).

See :mod:`.fol` for the syntax, :mod:`.prover` for the entailment check (z3) and
:mod:`.eprover` for the same check by the E prover (cross-checking z3);
``lemmaflow.agents.nodes.linc`` uses both for LINC (arXiv 2310.15164).
"""

from .fol import FOLError, FOLSyntaxError, Formula, Signature, SignatureError, parse_formula
from .prover import LABELS, EntailmentResult, EntailmentStatus, check_entailment

__all__ = [
    "EntailmentResult",
    "EntailmentStatus",
    "FOLError",
    "FOLSyntaxError",
    "Formula",
    "LABELS",
    "Signature",
    "SignatureError",
    "check_entailment",
    "parse_formula",
]
