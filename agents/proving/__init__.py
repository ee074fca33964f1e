"""Theorem proving with a growing lemma library (LEGO-Prover, arXiv 2310.00656).

- :class:`LegoProver`: one problem: retrieve lemmas, sketch, formal proof with helper lemmas,
  per-helper and statement-exact checks, repair rounds, library updates and reuse events.
- :class:`Evolver`: between problems: prove requested lemmas, generalize verified ones.
- :class:`WholeProof`: DeepSeek-Prover's whole-proof sampling with V1.5's truncate-and-resume, any prover
  (the equal-tokens baseline for tree search and LEGO).
- :mod:`.job`: the resumable ``lemmaflow prove`` job (attempts, no-library baseline, report).
- :mod:`.languages`: Coq and Lean 4 (:mod:`.coq_blocks`, :mod:`.lean_blocks`) behind one small interface;
  every node above takes any prover and uses its language.
"""

from .coq_blocks import Block, ParsedProof, extract_coq, references, split_blocks
from .evolver import Evolver
from .languages import COQ, LEAN4, ProofLanguage, language_for
from .lego import CheckRecord, LegoProver
from .whole_proof import WholeProof

__all__ = ["Block", "COQ", "CheckRecord", "Evolver", "LEAN4", "LegoProver", "ParsedProof", "ProofLanguage",
           "WholeProof", "extract_coq", "language_for", "references", "split_blocks"]
