"""Theorem proving with a growing lemma library (LEGO-Prover, arXiv 2310.00656).

- :class:`LegoProver`: one problem: retrieve lemmas, sketch, formal proof with helper lemmas,
  per-helper and statement-exact checks, repair rounds, library updates and reuse events.
- :class:`Evolver`: between problems: prove requested lemmas, generalize verified ones.
- :class:`WholeProof`: DeepSeek-Prover's whole-proof sampling with V1.5's truncate-and-resume, any prover
  (the equal-tokens baseline for tree search and LEGO).
- :mod:`.job`: the resumable ``lemmaflow prove`` job (attempts, no-library baseline, report).
"""

from .coq_blocks import Block, ParsedProof, extract_coq, references, split_blocks
from .evolver import Evolver
from .lego import CheckRecord, LegoProver
from .whole_proof import WholeProof

__all__ = ["Block", "CheckRecord", "Evolver", "LegoProver", "ParsedProof", "WholeProof", "extract_coq",
           "references", "split_blocks"]
