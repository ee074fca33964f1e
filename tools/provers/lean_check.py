"""Statement-exact checking for Lean 4: the commands a check runs, and how their answers are read.

A check runs these REPL commands, each on the environment the previous one
answered, starting from the *header's* environment (imports and ``open``\\ s
of the dataset, shared by every check and never extended by one):

1. ``goal``: ``theorem __lf_goal_N <binders> : <type> := sorry`` — the original
   statement from the dataset under a random nonce name, elaborated *before*
   any of the model's text, so no notation, instance, redefinition or axiom of
   the model can change what it means (its ``sorry`` is expected and never
   reaches the verdict: step 4 uses only its type);
2. ``context``: already-verified lemmas (one command each);
3. ``model``: the model's text, as written (a full ``theorem NAME ...``) or,
   for a bare proof, appended to the original statement. Any error, or any
   ``sorry`` (a mere warning for Lean), fails the check with positions in the
   model's own text;
4. ``check``: ``theorem __lf_check_N : type_of% @__lf_goal_N := @NAME`` — a
   plain term, no tactic: Lean's kernel accepts it only if ``NAME``'s type is
   definitionally equal to the *original* statement (a different theorem
   under the same name, a weaker statement, extra hypotheses, a ``NAME`` never
   declared all fail here);
5. ``axioms``: ``#print axioms __lf_check_N`` — every axiom the proof rests on,
   transitively. Proved iff it lists only :data:`ALLOWED_AXIOMS` (``propext``,
   ``Classical.choice``, ``Quot.sound``): ``sorryAx`` (``sorry``/``admit``/an
   elaboration error), a model ``axiom``, ``Lean.ofReduceBool`` /
   ``Lean.trustCompiler`` (``native_decide``, ``implemented_by`` tricks) fail.

Before running anything, :func:`scan_proof` rejects text that could subvert
steps 4-5 from inside the environment: new syntax or elaborators (``macro``,
``syntax``, ``notation``, ``elab``, ``@[tactic ...]`` ... could rewrite our own
check commands), metaprograms that run at elaboration time (``#eval`` — whose
output could also corrupt the REPL's stdout — ``run_cmd``, ``run_tac``,
``initialize``, the elaborator monads and environment API: ``MetaM``,
``modifyEnv``, ``addDecl`` ...), ``debug.*`` options (``debug.skipKernelTC`` turns the kernel
off), ``unsafe``/``implemented_by``/``extern``, ``variable``/``include``
(section hypotheses would become hypotheses of step 4's theorem), ``import``.
Comments and string literals are blanked first, so a word inside them is harmless.

Example::

    from lemmaflow.tools.provers import ProofTask
    from lemmaflow.tools.provers.lean_check import build_plan

    task = ProofTask(name="t", statement="theorem t : 1 + 1 = 2 := by", proof="  norm_num")
    plan = build_plan(task, nonce="abc")
    print([s.role for s in plan.steps])   # ['goal', 'model', 'check', 'axioms']
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from .base import ProofTask, ProverMessage

__all__ = [
    "ALLOWED_AXIOMS",
    "FORBIDDEN",
    "LeanPlan",
    "LeanPlanError",
    "PlannedCommand",
    "axioms_verdict",
    "blank_comments",
    "build_plan",
    "parse_print_axioms",
    "statement_parts",
    "scan_proof",
]

ALLOWED_AXIOMS: frozenset[str] = frozenset({"propext", "Classical.choice", "Quot.sound"})

# (pattern on comment-free text, why it is refused)
FORBIDDEN: tuple[tuple[str, str], ...] = (
    (r"^\s*import\b", "'import' (the header fixes the imports)"),
    (r"\b(?:macro|macro_rules|syntax|declare_syntax_cat|notation|infix|infixl|infixr|prefix|postfix|"
     r"elab|elab_rules|term_elab|command_elab|tactic_elab)\b", "new syntax or elaborators"),
    (r"(?:#eval|#exit|\brun_cmd\b|\brun_elab\b|\brun_meta\b|\brun_tac\b|\bby_elab\b|\b(?:builtin_)?initialize\b)",
     "metaprograms run while checking"),
    (r"(?:@\[|\battribute\s*\[)[^\]]*\b(?:tactic|term_elab|command_elab|macro|builtin_\w+|init)\b",
     "an attribute that registers an elaborator or initializer"),
    (r"\b(?:TacticM|TermElabM|CommandElabM|MetaM|CoreM|IO|Environment|modifyEnv|setEnv|addDecl\w*|ofReduceBool)\b",
     "metaprogramming (Lean's elaborator monads or environment)"),
    (r"\bdebug\.\w+", "a debug option (debug.skipKernelTC disables the kernel)"),
    (r"\b(?:unsafe|implemented_by|extern)\b", "unsafe code or compiler overrides (implemented_by/extern)"),
    (r"^\s*(?:variable|include|omit)\b", "section variables (they would become hypotheses of the checked theorem)"),
    (r"\b__lf_", "names reserved for the checker"),
)

_DECL = r"(?:theorem|lemma)"


class LeanPlanError(ValueError):
    """The task cannot be run: bad statement, or forbidden text in the proof. ``messages`` say where."""

    def __init__(self, reason: str, messages: list[ProverMessage] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.messages = messages or []


def blank_comments(text: str) -> str:
    """``text`` with comments (``--``, nested ``/- -/``) and string literals replaced by spaces
    (newlines kept), so offsets and line numbers are unchanged."""
    out = list(text)
    i, n = 0, len(text)

    def blank(a: int, b: int) -> None:
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        if text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/-", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/-", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("-/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i, j + 1)
            i = j + 1
        else:
            i += 1
    return "".join(out)


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line, 0-based column of a character offset."""
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1)


def offset_of(text: str, line: int, column: int) -> int:
    """Character offset of a 1-based line and 0-based column (clamped to the text)."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    if line < 1:
        return 0
    if line > len(starts):
        return len(text)
    return min(starts[line - 1] + max(column, 0), len(text))


def scan_proof(proof: str) -> None:
    """Raise :class:`LeanPlanError` (with the position) if the proof text uses a forbidden construct."""
    clean = blank_comments(proof)
    for pattern, why in FORBIDDEN:
        m = re.search(pattern, clean, re.M)
        if m:
            at = m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))
            line, col = line_col(proof, at)
            reason = f"forbidden in a proof: {why}: {m.group(0).strip()!r}"
            raise LeanPlanError(reason, [ProverMessage(text=reason, line=line, column=col)])


@dataclass(frozen=True)
class PlannedCommand:
    text: str
    role: str  # goal | context | model | check | axioms


@dataclass
class LeanPlan:
    nonce: str
    name: str
    steps: list[PlannedCommand]
    proof_text: str  # what the model wrote (positions refer to it)
    text_offset: int  # where proof_text starts inside the model command

    @property
    def check_name(self) -> str:
        return f"__lf_check_{self.nonce}"

    def position(self, cmd: PlannedCommand, line: int | None, column: int | None) -> tuple[int | None, int | None]:
        """A REPL position inside ``cmd`` -> line/column in the model's proof text (None outside it)."""
        if cmd.role != "model" or line is None:
            return None, None
        offset = offset_of(cmd.text, line, column or 0) - self.text_offset
        if offset < 0:
            return None, None
        return line_col(self.proof_text, offset)


def statement_parts(statement: str, name: str) -> tuple[str, str]:
    """``(declaration up to the name, the rest without a trailing ':=' / ':= by')``."""
    clean = blank_comments(statement)
    m = re.search(rf"\b{_DECL}\s+({re.escape(name)})(?=[\s:({{\[]|$)", clean)
    if not m:
        other = re.search(rf"\b{_DECL}\s+(\S+)", clean)
        if other:
            raise LeanPlanError(f"the statement declares {other.group(1)!r}, the task is named {name!r}")
        raise LeanPlanError(f"cannot read the original statement: no 'theorem {name}'")
    rest_clean = clean[m.end(1):].rstrip()
    tail = re.search(r":=\s*(?:by)?\s*$", rest_clean)
    cut = m.end(1) + (tail.start() if tail else len(rest_clean))
    signature = statement[m.end(1):cut].rstrip()
    if not re.search(r":", blank_comments(signature)):
        raise LeanPlanError("cannot read the original statement: no ':' before its type")
    return statement[: m.start()], signature


def build_plan(task: ProofTask, nonce: str | None = None) -> LeanPlan:
    """Lay out the commands of one check (see the module docstring)."""
    if not re.fullmatch(r"[^\s():{}\[\]]+", task.name):
        raise LeanPlanError(f"not a Lean theorem name: {task.name!r}")
    before, signature = statement_parts(task.statement, task.name)
    scan_proof(task.proof)
    n = nonce or secrets.token_hex(8)
    goal = f"{before}theorem __lf_goal_{n}{signature} := sorry"
    steps = [PlannedCommand(goal, "goal")]
    steps += [PlannedCommand(lemma, "context") for lemma in task.context]

    proof = task.proof
    if re.search(rf"\b{_DECL}\s+{re.escape(task.name)}(?=[\s:({{\[]|$)", blank_comments(proof)):
        text, offset = proof, 0
    else:  # a bare proof: it follows the original statement
        body = proof.lstrip()
        # "by ..." continues ':='; a tactic block goes on the lines after ':= by' (as miniF2F's statements end)
        joiner = " := " if re.match(r"by\b", body) else " := by\n"
        prefix = f"{before}theorem {task.name}{signature}{joiner}"
        text, offset = prefix + proof, len(prefix)
    steps.append(PlannedCommand(text, "model"))
    check = f"__lf_check_{n}"
    steps.append(PlannedCommand(f"theorem {check} : type_of% @__lf_goal_{n} := @{task.name}", "check"))
    steps.append(PlannedCommand(f"#print axioms {check}", "axioms"))
    return LeanPlan(n, task.name, steps, proof, offset)


# the name is quoted 'x' by the Lean releases we know; `x` accepted too (Lean's newer messages use backticks)
_DEPENDS = re.compile(r"['`]([^'`]+)['`] depends on axioms:\s*\[(.*?)\]", re.S)
_NONE = re.compile(r"['`]([^'`]+)['`] does not depend on any axioms")


def parse_print_axioms(output: str, name: str) -> list[str] | None:
    """The axioms ``#print axioms NAME`` reports (``[]`` for none), or None if the output says neither."""
    for m in _DEPENDS.finditer(output):
        if m.group(1) == name or m.group(1).endswith("." + name):
            return [a for a in re.split(r"[\s,]+", m.group(2)) if a]
    for m in _NONE.finditer(output):
        if m.group(1) == name or m.group(1).endswith("." + name):
            return []
    return None


def axioms_verdict(axioms: list[str]) -> str | None:
    """Why these axioms make the proof unacceptable, or None when they are all allowed."""
    bad = [a for a in axioms if a not in ALLOWED_AXIOMS]
    if not bad:
        return None
    if "sorryAx" in bad:
        return "uses sorry (sorryAx)"
    compiler = [a for a in bad if a in ("Lean.ofReduceBool", "Lean.trustCompiler")]
    if compiler:
        return f"trusts the compiler ({', '.join(compiler)}: native_decide or implemented_by)"
    return "depends on axioms that are not allowed: " + ", ".join(bad)
