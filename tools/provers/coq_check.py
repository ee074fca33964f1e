"""Statement-exact checking for Coq: what is run, and how the verdict is read.

A check runs, on top of the task's header (imports and the dataset's own
definitions):

1. ``Definition __lf_goal_N := forall (_ : unit) BINDERS, TYPE.`` — the original
   statement from the dataset, elaborated *before* any of the model's text,
   so no notation, redefinition, scope or axiom of the model can touch it;
2. ``Module N. <prelude> <context lemmas> <model text> End N.`` — ``N`` is a
   random nonce, so the text cannot close the module early or name our checks;
   everything it declares (sections, hypotheses, axioms, a ``nat`` of its own)
   lives inside ``N`` and is printed with the ``N.`` prefix;
3. ``Definition __lf_check_N : __lf_goal_N := fun _ => @N.NAME.`` — a plain
   term, no tactic: the kernel accepts it only if ``N.NAME``'s type is
   convertible to the original statement (a Section hypothesis generalizes it,
   a weaker or different statement does not convert, ``Abort`` leaves no ``N.NAME``);
4. ``Print Assumptions __lf_check_N.`` — every axiom the proof and the statement
   rest on, including ``Admitted`` lemmas, ``admit`` and unsafe flags
   (``Unset Guard Checking`` shows as "assumed to be guarded"). A warm session
   with the memo plugin runs ``Lemmaflow Print Assumptions`` instead: the same
   walk and output, except that the libraries preloaded before any untrusted
   text are walked once per session (:mod:`.coq_memo`).

Proved iff all of it succeeds and every assumption is on :data:`ALLOWED_AXIOMS`
or declared by the task's header (a dataset ``Parameter``/``Axiom``).

Allowed axioms (fully qualified, Coq 8.16): classical logic (excluded middle),
functional and propositional extensionality, proof irrelevance and ``eq_rect_eq``,
definite/indefinite description, unique and relational choice, Hilbert's epsilon,
and the two axioms of Coq's real numbers (``sig_forall_dec``, ``sig_not_dec``).
Coquelicot adds none beyond these (its lemmas use the Reals axioms and
functional extensionality). Names are matched as Coq prints them (the shortest
unambiguous suffix); the model's own declarations always print under ``N.``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from .base import ProofTask, ProverMessage
from .coq_text import (
    CoqSyntaxError,
    Sentence,
    declares,
    forbidden_command,
    line_col,
    parse_statement,
    split_sentences,
    strip_comments,
)

__all__ = [
    "ALLOWED_AXIOMS",
    "DEFAULT_PRELUDE",
    "CheckPlan",
    "PlanError",
    "PlannedSentence",
    "assumption_verdict",
    "build_plan",
    "header_axioms",
    "parse_assumptions",
]

ALLOWED_AXIOMS: frozenset[str] = frozenset({
    "Coq.Logic.Classical_Prop.classic",
    "Coq.Logic.FunctionalExtensionality.functional_extensionality_dep",
    "Coq.Logic.PropExtensionality.propositional_extensionality",
    "Coq.Logic.ProofIrrelevance.proof_irrelevance",
    "Coq.Logic.Eqdep.Eq_rect_eq.eq_rect_eq",
    "Coq.Logic.Description.constructive_definite_description",
    "Coq.Logic.IndefiniteDescription.constructive_indefinite_description",
    "Coq.Logic.ClassicalUniqueChoice.dependent_unique_choice",
    "Coq.Logic.RelationalChoice.relational_choice",
    "Coq.Logic.Epsilon.epsilon_statement",
    "Coq.Reals.ClassicalDedekindReals.sig_forall_dec",
    "Coq.Reals.ClassicalDedekindReals.sig_not_dec",
})

# Tactic libraries the model may use without importing them itself (the miniF2F
# headers import Reals/Arith/ZArith but not lra/lia/nra).
DEFAULT_PRELUDE = 'Set Warnings "-require-in-module". From Coq Require Import Lia Lra Psatz.'


class PlanError(ValueError):
    """The task cannot be run: bad statement, unsplittable or forbidden text. ``messages`` say where."""

    def __init__(self, reason: str, messages: list[ProverMessage] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.messages = messages or []


@dataclass(frozen=True)
class PlannedSentence:
    text: str
    role: str  # header | goal | prelude | context | model | end | check | assumptions
    offset: int | None = None  # character offset in the model's proof text (role "model")


@dataclass
class CheckPlan:
    nonce: str
    name: str
    header: list[PlannedSentence]
    body: list[PlannedSentence]  # goal, module, model text, end, check, assumptions
    proof_text: str  # what the model wrote (positions refer to it)
    text_offset: int  # where proof_text starts inside the module text (negative: statement prepended)
    allowed_printed: frozenset[str] = field(default_factory=frozenset)

    def position(self, sentence: PlannedSentence, byte_loc: int | None) -> tuple[int | None, int | None]:
        """Line/column in the model's proof text of a byte offset inside ``sentence``."""
        if sentence.role != "model" or sentence.offset is None:
            return None, None
        chars = len(sentence.text.encode()[: byte_loc or 0].decode(errors="ignore"))
        offset = sentence.offset + chars - self.text_offset
        if offset < 0:
            return None, None
        return line_col(self.proof_text, offset)


def _suffixes(full: str) -> set[str]:
    parts = full.split(".")
    return {".".join(parts[i:]) for i in range(len(parts))}


_HEADER_AXIOM = re.compile(
    r"^(?:#\[[^\]]*\]\s*)?(?:(?:Local|Global)\s+)?(?:Axioms?|Parameters?|Conjectures?|Hypothes[ei]s|Variables?)\s+([^:]+):"
)


def header_axioms(header: str) -> set[str]:
    """Names the task's header declares as axioms/parameters (trusted: they come with the dataset)."""
    names: set[str] = set()
    try:
        sentences = split_sentences(header)
    except CoqSyntaxError:
        return names
    for s in sentences:
        m = _HEADER_AXIOM.match(strip_comments(s.text).strip())
        if m:
            names.update(n for n in re.split(r"[\s()]+", m.group(1)) if n)
    return names


def build_plan(task: ProofTask, prelude: str = DEFAULT_PRELUDE, nonce: str | None = None,
               assumptions_command: str = "Print Assumptions") -> CheckPlan:
    """Lay out the sentences of one check (see the module docstring).

    ``assumptions_command``: ``"Lemmaflow Print Assumptions"`` in a warm session that loaded the
    assumption-memo plugin (:mod:`.coq_memo`; same output, library walk memoized).
    """
    try:
        stmt = parse_statement(task.statement)
    except (ValueError, CoqSyntaxError) as e:
        raise PlanError(f"cannot read the original statement: {e}") from None
    if stmt.name != task.name:
        raise PlanError(f"the statement declares {stmt.name!r}, the task is named {task.name!r}")
    n = nonce or f"LF{secrets.token_hex(8)}"
    try:
        header = [PlannedSentence(s.text, "header") for s in split_sentences(task.header)]
    except CoqSyntaxError as e:
        raise PlanError(f"cannot split the header: {e}") from None

    proof = task.proof
    if declares(proof, task.name):
        text, text_offset = proof, 0
    else:  # a bare proof: it follows the original statement
        prefix = task.statement.rstrip() + "\n"
        text, text_offset = prefix + proof, len(prefix)
    try:
        model_sentences: list[Sentence] = split_sentences(text)
    except CoqSyntaxError as e:
        line, col = line_col(proof, max(0, e.offset - text_offset))
        raise PlanError(str(e), [ProverMessage(text=str(e), line=line, column=col)]) from None
    for s in model_sentences:
        bad = forbidden_command(s.text)
        if bad:
            line, col = line_col(proof, max(0, s.start - text_offset))
            why = f"forbidden command {bad!r} (file system, process or document control)"
            raise PlanError(why, [ProverMessage(text=why, line=line, column=col)])

    body = [PlannedSentence(f"Definition __lf_goal_{n} := {stmt.as_type()}.", "goal"),
            PlannedSentence(f"Module {n}.", "module")]
    try:
        body += [PlannedSentence(s.text, "prelude") for s in split_sentences(prelude)]
        for lemma in task.context:
            body += [PlannedSentence(s.text, "context") for s in split_sentences(lemma)]
    except CoqSyntaxError as e:
        raise PlanError(f"cannot split the prelude or a context lemma: {e}") from None
    # Context lemmas come from the library, i.e. from earlier model output: same first line.
    bad = next((c for c in (forbidden_command(b.text) for b in body if b.role == "context") if c), None)
    if bad:
        raise PlanError(f"forbidden command {bad!r} in a context lemma (file system, process or document control)")
    body += [PlannedSentence(s.text, "model", s.start) for s in model_sentences]
    body += [
        PlannedSentence(f"End {n}.", "end"),
        PlannedSentence(f"Definition __lf_check_{n} : __lf_goal_{n} := fun _ => @{n}.{task.name}.", "check"),
        PlannedSentence(f"{assumptions_command} __lf_check_{n}.", "assumptions"),
    ]
    allowed: set[str] = set(header_axioms(task.header))
    # Print Assumptions prints the shortest unambiguous name, so every qualified suffix of an allowed
    # axiom is accepted. Sound because each stdlib namesake states the same proposition (Coq 8.16:
    # ClassicalEpsilon's constructive_indefinite_description = IndefiniteDescription's); the model's
    # own axioms live under the nonce module and never match. tests/tools/provers/
    # test_coq_allowed_axioms.py re-reads the installed stdlib and fails if that stops holding.
    for full in ALLOWED_AXIOMS:
        allowed |= _suffixes(full)
    return CheckPlan(n, task.name, header, body, proof, text_offset, frozenset(allowed))


_SECTION_HEADERS = {"Axioms:", "Section Variables:", "Opaque constants:", "Transparent constants:"}


def parse_assumptions(output: str) -> list[tuple[str, str]]:
    """``Print Assumptions`` output -> ``[(name, rest of its first line)]``; [] when closed."""
    if output.strip().startswith("Closed under the global context"):
        return []
    entries: list[tuple[str, str]] = []
    for line in output.splitlines():
        if not line.strip() or line[0].isspace() or line.strip() in _SECTION_HEADERS:
            continue
        name, _, rest = line.strip().partition(" ")
        entries.append((name, rest.strip()))
    return entries


def assumption_verdict(plan: CheckPlan, output: str) -> tuple[list[str], str | None]:
    """(axioms as reported, reason they are not allowed or None)."""
    entries = parse_assumptions(output)
    shown = [name.replace(f"{plan.nonce}.", "") for name, _ in entries]
    if not output.strip():
        return shown, "Print Assumptions printed nothing"
    bad: list[str] = []
    for (name, rest), nice in zip(entries, shown):
        unsafe = rest and not rest.startswith(":")
        if name.startswith(f"{plan.nonce}.") or unsafe or name not in plan.allowed_printed:
            bad.append(nice + (f" ({rest.rstrip('.')})" if unsafe else ""))
    if not bad:
        return shown, None
    own = [b for b in bad if b.split(" ")[0] == plan.name]
    if own:
        return shown, f"{plan.name} itself is assumed (Admitted, or an axiom under its name)"
    return shown, "depends on axioms that are not allowed: " + ", ".join(bad)
