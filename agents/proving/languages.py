"""One small interface over the proof languages LEGO-Prover, the evolver and the prove job speak.

A :class:`ProofLanguage` bundles what differs between Coq and Lean 4 on the
*text* side: how code is cut out of an answer and split into helper lemmas
(:mod:`.coq_blocks` / :mod:`.lean_blocks`, each written for its language), how a
verified lemma is replayed as proved context, when a lemma's header can be used
under another, and the prompts (Coq's speak of ``Lemma ... Proof. ... Qed.``
and the loaded tactics; Lean's of ``theorem ... := by``, Mathlib and no
``import``). The nodes pick one with :func:`language_for` from
``prover.language``, so any :class:`~lemmaflow.tools.provers.base.Prover` works.

Example::

    >>> from lemmaflow.agents.proving.languages import language_for
    >>> lean = language_for("lean4")
    >>> parsed = lean.split("theorem h : 1 = 1 := by\\n  rfl\\ntheorem t : 2 = 2 := by\\n  rfl", "t")
    >>> [b.name for b in parsed.helpers], parsed.main.name, lean.fence
    (['h'], 't', 'lean4')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from . import coq_blocks, lean_blocks
from .coq_blocks import ParsedProof

__all__ = ["COQ", "LEAN4", "ProofLanguage", "language_for"]


@dataclass(frozen=True)
class ProofLanguage:
    name: str  # Entry.language / Prover.language: "coq" | "lean4"
    display: str  # for messages: "Coq" | "Lean"
    fence: str  # the code fence the prompts ask for
    extract: Callable[[str], str]  # answer -> code
    split: Callable[[str, str], ParsedProof]  # (code, main name) -> parsed
    references: Callable[[str, set[str]], set[str]]
    context_text: Callable[[str, str, str], str]  # (source, header, label) -> proved context
    portable: Callable[[str, str], bool]  # (lemma's own header, header of the run) -> usable there
    statement_name: Callable[[str], str | None]
    unclosed: str  # why a helper block cannot be checked
    sketch_prompt: str
    formal_prompt: str
    lemmas_block: str
    repair_prompt: str
    request_prompt: str
    request_lemmas: str
    generalize_prompt: str

    def with_proof(self, statement: str, body: str) -> str:
        """The statement followed by a bare proof (``Proof. ... Qed.`` sentences / a tactic block)."""
        if self.name == "coq":
            return statement.strip() + "\n" + body
        head = re.sub(r":=\s*(?:by)?\s*$", "", statement.rstrip()).rstrip()
        return f"{head} := by\n{body}"

    def main_text(self, parsed: ParsedProof, statement: str) -> str | None:
        """The text to check against the dataset statement, None when the answer proves nothing."""
        pre = (parsed.preamble + "\n") if parsed.preamble else ""
        if parsed.main is not None:
            return pre + parsed.main.text
        if not parsed.loose.strip():
            return None
        if self.name == "lean4" and not pre:
            return parsed.loose  # a bare tactic block: the checker appends it to the original statement
        return pre + self.with_proof(statement, parsed.loose)

    def whole_text(self, parsed: ParsedProof, statement: str) -> str:
        """Helpers and main proof in one text (a request proved with its own helpers)."""
        parts = [parsed.preamble, *(h.text for h in parsed.helpers)]
        if parsed.main is not None:
            parts.append(parsed.main.text)
        elif parsed.loose.strip():
            parts.append(self.with_proof(statement, parsed.loose))
        return "\n".join(p for p in parts if p) + "\n"


def _coq_portable(own: str, header: str) -> bool:
    return own == header or coq_blocks.import_sentences(own) is not None


COQ = ProofLanguage(
    name="coq", display="Coq", fence="coq",
    extract=coq_blocks.extract_coq, split=coq_blocks.split_blocks, references=coq_blocks.references,
    context_text=coq_blocks.context_text, portable=_coq_portable, statement_name=coq_blocks.statement_name,
    unclosed="the lemma is not closed with Qed (Admitted, aborted or cut off)",
    sketch_prompt="""Write a short informal proof (a few sentences) of this Coq theorem.

Imports: {header}
Theorem:
{statement}

Informal proof:""",
    formal_prompt="""Prove the theorem below in Coq 8.16.
You may first state and prove helper lemmas (`Lemma name ... : ... .` then `Proof. ... Qed.`), then prove the
theorem with exactly the given statement. Tactics lia, lra, nia, nra, ring, field are loaded.
{lemmas}Imports (already loaded):
{header}
{sketch}Theorem to prove:
{statement}

Answer with one ```coq block containing the helper lemmas and the theorem with its proof.""",
    lemmas_block="""Verified lemmas you may use by name (already proved; do not restate them):
```coq
{statements}
```
""",
    repair_prompt="""Your Coq proof did not check.

Theorem to prove:
{statement}

Your answer:
```coq
{code}
```

Coq said:
{feedback}

{lemmas}Fix the proof. Answer with one ```coq block with the corrected helper lemmas and theorem.""",
    request_prompt="""Prove this lemma in Coq 8.16. You may state and prove helper lemmas first.
Tactics lia, lra, nia, nra, ring, field are loaded.
{lemmas}Imports (already loaded):
{header}
Lemma to prove:
{statement}

Answer with one ```coq block.""",
    request_lemmas="Verified lemmas you may use by name:\n```coq\n{statements}\n```\n",
    generalize_prompt="""Here is a verified Coq lemma:
```coq
{source}
```
Imports (already loaded):
{header}
State and prove a more general, reusable version of it under a new name (for example with a parameter
in place of a constant, or fewer hypotheses). Answer with one ```coq block: the new lemma and its proof.""",
)

LEAN4 = ProofLanguage(
    name="lean4", display="Lean", fence="lean4",
    extract=lean_blocks.extract_lean, split=lean_blocks.split_blocks, references=lean_blocks.references,
    context_text=lean_blocks.context_text, portable=lean_blocks.portable, statement_name=lean_blocks.statement_name,
    unclosed="the lemma's proof uses sorry/admit or is cut off (no ':=' and proof)",
    sketch_prompt="""Write a short informal proof (a few sentences) of this Lean 4 theorem.

Header: {header}
Theorem:
{statement}

Informal proof:""",
    formal_prompt="""Prove the theorem below in Lean 4 with Mathlib.
You may first state and prove helper lemmas (`theorem name ... := by` and a tactic block; use fresh
snake_case names that Mathlib does not have), then prove the theorem with exactly the given statement.
Do not write `import` lines, `sorry` or `admit`; tactics such as norm_num, linarith, nlinarith, omega, ring,
simp, field_simp, positivity, decide are available.
{lemmas}Header (already loaded):
{header}
{sketch}Theorem to prove:
{statement}

Answer with one ```lean4 block containing the helper lemmas and the theorem with its proof.""",
    lemmas_block="""Verified lemmas you may use by name (already proved and loaded; do not restate them):
```lean4
{statements}
```
""",
    repair_prompt="""Your Lean 4 proof did not check.

Theorem to prove:
{statement}

Your answer:
```lean4
{code}
```

Lean said:
{feedback}

{lemmas}Fix the proof. Answer with one ```lean4 block with the corrected helper lemmas and theorem.""",
    request_prompt="""Prove this lemma in Lean 4 with Mathlib. You may state and prove helper lemmas first
(`theorem name ... := by`, fresh snake_case names). No `import`, `sorry` or `admit`.
{lemmas}Header (already loaded):
{header}
Lemma to prove:
{statement} := by

Answer with one ```lean4 block.""",
    request_lemmas="Verified lemmas you may use by name:\n```lean4\n{statements}\n```\n",
    generalize_prompt="""Here is a verified Lean 4 lemma:
```lean4
{source}
```
Header (already loaded):
{header}
State and prove a more general, reusable version of it under a new snake_case name (for example with a
variable in place of a constant, or fewer hypotheses). Answer with one ```lean4 block: the new theorem and its
proof (`theorem name ... := by` and a tactic block).""",
)

_LANGUAGES = {"coq": COQ, "lean4": LEAN4}


def language_for(name: str) -> ProofLanguage:
    """The language kit for ``prover.language`` (``coq`` or ``lean4``); ValueError for another."""
    try:
        return _LANGUAGES[name]
    except KeyError:
        raise ValueError(f"no proof language {name!r}; known: {', '.join(_LANGUAGES)}") from None
