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

from typing import TYPE_CHECKING

from .base import ProofResult, ProofTask, ProverMessage

if TYPE_CHECKING:
    from .lean_repl import CommandResponse

__all__ = [
    "ALLOWED_AXIOMS",
    "FORBIDDEN",
    "assemble",
    "final_verdict",
    "judge",
    "split_answer",
    "step_verdict",
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


# -- verdicts (shared by every Lean backend: the REPL pool and the Kimina server) --------------------
def _first_line(text: str) -> str:
    return next((x.strip() for x in text.splitlines() if x.strip()), "error")


def step_messages(plan: LeanPlan, cmd: PlannedCommand, answer: "CommandResponse") -> list[ProverMessage]:
    """The answer's messages, with positions in the model's own text (None outside it)."""
    out = []
    for m in answer.messages:
        line, col = plan.position(cmd, m.pos.line if m.pos else None, m.pos.column if m.pos else None)
        out.append(ProverMessage(severity=m.level, text=m.data, line=line, column=col))
    return out


def step_verdict(plan: LeanPlan, cmd: PlannedCommand, answer: "CommandResponse") -> ProofResult | None:
    """A failed result if this step's answer already decides the check (error, sorry), else None."""
    first = answer.errors[0].data if answer.errors else ""
    if cmd.role == "goal" and answer.errors:
        return ProofResult(status="failed", messages=step_messages(plan, cmd, answer),
                           reason=f"the original statement does not elaborate: {_first_line(first)}")
    if cmd.role == "context" and (answer.errors or answer.uses_sorry):
        return ProofResult(status="failed", messages=step_messages(plan, cmd, answer),
                           reason=f"a context lemma does not check: {_first_line(first or 'uses sorry')}")
    if cmd.role == "model":
        msgs = step_messages(plan, cmd, answer)
        if answer.errors:
            return ProofResult(status="failed", messages=msgs, reason=f"Lean error: {_first_line(first)}")
        if answer.uses_sorry:
            for s in answer.sorries:  # the sorries' own positions, if Lean gave no warning for them
                line, col = plan.position(cmd, s.pos.line if s.pos else None, s.pos.column if s.pos else None)
                msgs.append(ProverMessage(severity="warning", text=f"sorry: {s.goal}", line=line, column=col))
            return ProofResult(status="failed", messages=msgs, reason="uses sorry")
    if cmd.role == "check" and answer.errors:
        msgs = [ProverMessage(text=m.data) for m in answer.errors]
        # Lean >= 4.2x writes "Unknown identifier `x`", older releases "unknown identifier 'x'"
        if "unknown identifier" in first.lower() or "unknown constant" in first.lower():
            reason = f"the proof text does not define {plan.name}"
        else:
            reason = f"{plan.name} in the proof text does not have the original statement"
        return ProofResult(status="failed", messages=msgs, reason=reason)
    return None


def final_verdict(plan: LeanPlan, answers: list[tuple[PlannedCommand, "CommandResponse"]]) -> ProofResult:
    """The verdict once every step ran and none failed: ``#print axioms`` decides."""
    by_role = {cmd.role: (cmd, answer) for cmd, answer in answers}
    output = "\n".join(m.data for m in by_role["axioms"][1].messages if not m.is_error)
    axioms = parse_print_axioms(output, plan.check_name)
    model_cmd, model_answer = by_role["model"]
    warnings = [m for m in step_messages(plan, model_cmd, model_answer) if m.severity == "warning"]
    if axioms is None:
        return ProofResult(status="failed", messages=warnings,
                           reason=f"cannot read '#print axioms' output: {output[:200]!r}")
    reason = axioms_verdict(axioms)
    if reason:
        return ProofResult(status="failed", axioms=axioms, reason=reason, messages=warnings)
    return ProofResult(status="proved", axioms=axioms, messages=warnings)


def judge(plan: LeanPlan, answers: list[tuple[PlannedCommand, "CommandResponse"]]) -> ProofResult:
    """The verdict on all of a check's answers (the first step that fails decides)."""
    for cmd, answer in answers:
        early = step_verdict(plan, cmd, answer)
        if early is not None:
            return early
    return final_verdict(plan, answers)


# -- one snippet: the whole check as a single Lean text (for servers that run one command per snippet) --
_GAP = "\n\n"


def assemble(plan: LeanPlan, header: str = "") -> tuple[str, list[tuple[PlannedCommand, int, int]]]:
    """The check's commands as one Lean text after ``header``, and each command's first and last line.

    The commands are the same, in the same order, as the REPL pool runs them one by one; Lean
    elaborates a file's commands in order, each in the environment the previous ones left, so the
    original statement is still elaborated before any of the model's text, and the check and
    ``#print axioms`` after it. A model text that leaves a comment or string open can only hide the
    final commands, which then fail to report (never a proof)."""
    parts = [header.rstrip("\n")] if header.strip() else []
    code = _GAP.join(parts) + (_GAP if parts else "")
    spans = []
    for i, cmd in enumerate(plan.steps):
        first = code.count("\n") + 1
        code += cmd.text.rstrip("\n")
        spans.append((cmd, first, code.count("\n") + 1))
        if i + 1 < len(plan.steps):
            code += _GAP
    return code + "\n", spans


def split_answer(spans: list[tuple[PlannedCommand, int, int]], answer: "CommandResponse"
                 ) -> list[tuple[PlannedCommand, "CommandResponse"]]:
    """One answer for the whole text -> one per command, positions relative to that command."""
    from .lean_repl import CommandResponse, Position  # the REPL's answer types (no import cycle)

    def owner(line: int | None) -> int | None:
        if line is None:
            return None
        for k, (_cmd, first, last) in enumerate(spans):
            if first <= line <= last:
                return k
        return None

    def shift(item, k):
        first = spans[k][1]
        update = {}
        for key in ("pos", "end_pos"):
            p = getattr(item, key)
            if p is not None:
                update[key] = Position(line=p.line - first + 1, column=p.column)
        return item.model_copy(update=update)

    parts: list[dict[str, list]] = [{"messages": [], "sorries": []} for _ in spans]
    for key in ("messages", "sorries"):
        for item in getattr(answer, key):
            k = owner(item.pos.line if item.pos else None)
            if k is None:
                # outside every command (no position): the first step answers for it, without a position
                parts[0][key].append(item.model_copy(update={"pos": None, "end_pos": None}))
            else:
                parts[k][key].append(shift(item, k))
    return [(cmd, CommandResponse(env=answer.env, **parts[k])) for k, (cmd, _f, _l) in enumerate(spans)]
