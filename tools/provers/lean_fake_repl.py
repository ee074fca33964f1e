"""A protocol-faithful *fake* of the Lean 4 REPL, for testing the client, pool and prover without Lean.

This is a test double, not a Lean: it checks nothing mathematical and proves
nothing. It speaks the REPL's wire protocol as the current release does
(leanprover-community/repl; answers checked against the REPL's own
``test/*.expected.out`` in ``tests/tools/provers/data/lean_repl/``):

- a request is JSON followed by a blank line; an answer is JSON pretty-printed
  the way Lean's ``Json.pretty`` does it (width 80, several lines, object keys in
  *descending* order) followed by a blank line; an input that starts with ``#``
  or ``--`` gets no answer (the REPL skips it);
- command answers: ``env``, and ``messages`` / ``sorries`` only when non-empty;
  a message has ``severity`` (``info``/``warning``/``error``), ``pos``,
  ``endPos``, ``data``; a sorry has ``goal``, ``proofState`` (term sorries too),
  ``pos``, ``endPos``; the sorry warning reads "declaration uses `sorry`" at the
  declaration's name;
- tactic answers: ``proofState``, ``goals`` (always, ``[]`` when none),
  ``messages`` / ``sorries`` when non-empty, and ``proofStatus`` (always):
  "Incomplete: open goals remain", "Incomplete: contains metavariable(s)",
  "Error: kernel type check failed: ...", "Incomplete: contains sorry" or
  "Completed" (the REPL's ``getProofStatus``, checked in that order). Messages of
  a tactic step sit at line 0, column 0; a tactic that fails closes the goals by
  error recovery (so ``goals`` is ``[]`` and the status "contains sorry"), as
  Lean does; sorries of a tactic step carry no position;
- ``{"message": ...}`` for an unknown environment ("Unknown environment.") or
  proof state ("Unknown proof state."), and "Lean error:\\n<input>:1:C: unknown
  tactic" for a tactic the double does not know; a request that is not JSON or
  not a REPL command makes the process exit with status 1 after
  ``uncaught exception: {"message": ...}`` on stderr, as the REPL does;
- ``{"pickleTo": PATH, "env": N}`` / ``{"unpickleEnvFrom": PATH}`` and
  ``{"pickleTo": PATH, "proofState": N}`` / ``{"unpickleProofStateFrom": PATH}`` write
  and read the double's own JSON, not an ``.olean``; the answers are the REPL's
  (the same ``env`` for a pickled environment, a new id for the others).

Its tiny, documented semantics:

- Comments are ignored. A command is split into items at lines that start (column 0) with
  ``import``, ``theorem``, ``lemma``, ``def``, ``axiom``, ``example``,
  ``#print``, ``#eval``, ``open``, ``set_option``, ``namespace``, ``section`` or ``end``.
  ``import`` is only allowed without ``env`` (as in the REPL); ``open``,
  ``set_option``, ``namespace``, ``section``, ``end`` are accepted and ignored.
- A declaration's *type* is the text of its signature (everything between its
  name and ``:=``), whitespace-normalized; ``: type_of% @X`` means ``X``'s type.
  Two types are "equal" iff those texts are equal. Declaring a name twice is an
  error. A declaration with an error is still added, depending on ``sorryAx``
  (Lean's error recovery does the same).
- ``axiom N : T`` declares ``N`` depending on the axiom ``N``; ``def N ... := body``
  declares ``N`` (its body is not read unless it is ``sorry`` or ``by ...``, read as a proof).
- A term proof is ``sorry``, ``rfl``, ``trivial`` or a declared name (``N`` or
  ``@N``), whose type must equal the expected one ("type mismatch" otherwise).
- A tactic proof ``by t1; t2`` (``;`` or new lines) starts with one goal: the
  signature's binder groups ``(a b : T)`` as hypotheses ``a b : T`` and
  ``⊢ <text after the signature's last top-level colon>``. Tactics:
  ``rfl decide norm_num simp omega linarith nlinarith ring trivial positivity
  aesop`` close the first goal; ``native_decide`` closes it and adds the axiom
  ``Lean.ofReduceBool``; ``sorry``/``admit`` close it with a sorry (a ``sorries``
  entry with a proof state); ``exact N``/``apply N`` close it if ``N`` is declared
  (its axioms carry over) or a hypothesis whose type is the goal; ``assumption``
  closes it if a hypothesis has its type; ``exact ?_``/``apply ?x`` close it with
  a metavariable left; ``have h : T := by sorry`` adds ``h : T`` with a sorry
  (in tactic mode, closing that sorry's state gives "contains metavariable(s)" and
  the main state's completion too, as the REPL answers); ``constructor`` splits
  ``A ∧ B`` into ``case left`` and ``case right``; ``skip`` does nothing;
  ``fake_kernel_reject`` closes the goal with a term the kernel rejects. A known
  tactic that cannot act is an error at its position; goals left over give
  "unsolved goals".
- ``#print axioms N`` answers an ``info`` message in Lean's wording;
  ``#eval Lean.versionString`` answers ``"<version>"`` (``$LEMMAFLOW_FAKE_LEAN_VERSION``,
  default ``4.19.0-fake``: never a real Lean's version).
- ``$LEMMAFLOW_FAKE_REPL_LEGACY=1`` answers as REPL releases before ``proofStatus``
  did (no ``proofStatus``; the warning reads "declaration uses 'sorry'"), to test
  that clients still work with them.
- Test mode only (``--unsafe-io`` on the command line): ``#eval IO.FS.writeFile "P" "S"``,
  ``#eval IO.FS.readFile "P"`` and ``#eval IO.Process.run { cmd := "C", args := #["A", ...] }``
  (one per line) are *performed*, as a real Lean's ``#eval`` would, answering the output as an
  ``info`` message or the OS error as an ``error``: the confinement tests use them to show that the
  prover's confinement, not the double, stops a proof text's side effects. Without the flag such
  a line is an error and does nothing.
- Trigger inputs, for the client's failure paths: ``#fake_crash`` exits at once
  without answering, ``#fake_hang`` never answers, ``#fake_garbage`` answers a
  line that is not JSON, ``#fake_notice`` prints a notice line before its answer.

Run: ``python -m lemmaflow.tools.provers.lean_fake_repl`` (stdin/stdout).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FakeRepl", "main", "render_json"]

DEFAULT_LEAN_VERSION = "4.19.0-fake"
_ITEM = re.compile(r"^(import|theorem|lemma|def|axiom|example|#print|#eval|open|set_option|namespace|section|end)\b",
                   re.M)
_EVAL = re.compile(r"^#eval[ \t]+IO\.(FS\.writeFile|FS\.readFile|Process\.run)\b([^\n]*)", re.M)
_STRING = r'"(?:[^"\\]|\\.)*"'
_CLOSERS = {"rfl", "decide", "norm_num", "simp", "omega", "linarith", "nlinarith", "ring", "trivial",
            "positivity", "aesop"}
_KNOWN = _CLOSERS | {"native_decide", "sorry", "admit", "exact", "apply", "assumption", "have", "constructor",
                     "skip", "fake_kernel_reject"}
LEGACY = os.environ.get("LEMMAFLOW_FAKE_REPL_LEGACY") == "1"
SORRY_WARNING = "declaration uses 'sorry'" if LEGACY else "declaration uses `sorry`"
# -- Lean's Json.pretty -----------------------------------------------------------
# Lean renders a JSON object as Format.bracket "{" (kv, line-separated) "}" with each kv
# `group(key ":" line value)`, keys in descending order (its RBMap folded onto a list), and
# prints with width 80. A group is laid out flat iff it, and what follows it up to the next
# line break, fits in the rest of the line (Lean's `pushGroup`).
_TEXT, _LINE, _GROUP, _NEST = range(4)


def _escape(s: str) -> str:
    out = []
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _doc(value: Any) -> Any:
    """A Format document: ("t", text) | ("l",) | ("g", [docs]) | ("n", indent, [docs])."""
    if value is None:
        return (_TEXT, "null")
    if value is True or value is False:
        return (_TEXT, "true" if value else "false")
    if isinstance(value, (int, float)):
        return (_TEXT, json.dumps(value))
    if isinstance(value, str):
        return (_TEXT, _escape(value))
    if isinstance(value, list):
        parts: list[Any] = []
        for i, v in enumerate(value):
            if i:
                parts += [(_TEXT, ","), (_LINE,)]
            parts.append(_doc(v))
        return (_GROUP, [(_NEST, 1, [(_TEXT, "["), *parts, (_TEXT, "]")])])
    if isinstance(value, dict):
        parts = []
        for i, k in enumerate(sorted(value, reverse=True)):
            if i:
                parts += [(_TEXT, ","), (_LINE,)]
            parts.append((_GROUP, [(_TEXT, _escape(k) + ":"), (_LINE,), _doc(value[k])]))
        return (_GROUP, [(_NEST, 1, [(_TEXT, "{"), *parts, (_TEXT, "}")])])
    raise TypeError(f"not JSON: {value!r}")


def _fits(width: int, items: list[tuple[int, bool, Any]]) -> bool:
    """Does everything up to the next line break fit in ``width`` (items: indent, flat, doc; last first)?"""
    stack = list(items)
    while stack:
        if width < 0:
            return False
        indent, flat, d = stack.pop()
        kind = d[0]
        if kind == _TEXT:
            width -= len(d[1])
        elif kind == _LINE:
            if not flat:
                return True
            width -= 1
        elif kind == _GROUP:
            stack.extend((indent, flat, x) for x in reversed(d[1]))
        else:
            stack.extend((indent + d[1], flat, x) for x in reversed(d[2]))
    return width >= 0


def render_json(value: Any, width: int = 80) -> str:
    """``value`` as the Lean REPL prints it (``Json.pretty``): several lines, keys descending."""
    out: list[str] = []
    col = 0
    stack: list[tuple[int, bool, Any]] = [(0, False, _doc(value))]
    while stack:
        indent, flat, d = stack.pop()
        kind = d[0]
        if kind == _TEXT:
            out.append(d[1])
            col += len(d[1])
        elif kind == _LINE:
            if flat:
                out.append(" ")
                col += 1
            else:
                out.append("\n" + " " * indent)
                col = indent
        elif kind == _GROUP:
            fit = flat or _fits(width - col, stack + [(indent, True, x) for x in reversed(d[1])])
            stack.extend((indent, fit, x) for x in reversed(d[1]))
        else:
            stack.extend((indent + d[1], flat, x) for x in reversed(d[2]))
    return "".join(out)


# -- the double's Lean ------------------------------------------------------------
def _blank_comments(text: str) -> str:
    """Comments (``--`` to the end of the line, ``/- -/``, not nested) become spaces; offsets are kept."""
    return re.sub(r"--[^\n]*|/-.*?-/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)


@dataclass
class Decl:
    type: str
    axioms: frozenset[str]


@dataclass(frozen=True)
class Goal:
    text: str  # the conclusion, without "⊢ "
    hyps: tuple[str, ...] = ()  # "a b : T" lines
    case: str | None = None

    def pretty(self) -> str:
        lines = ([f"case {self.case}"] if self.case else []) + list(self.hyps) + [f"⊢ {self.text}"]
        return "\n".join(lines)

    def hyp_type(self, name: str) -> str | None:
        for h in self.hyps:
            names, _, typ = h.partition(" : ")
            if name in names.split():
                return typ
        return None


@dataclass
class ProofState:
    goals: list[Goal]
    decls: dict[str, Decl]
    has_sorry: bool = False
    has_mvar: bool = False
    kernel_bad: bool = False

    def status(self) -> str:
        """The REPL's ``getProofStatus``, in its order."""
        if self.goals:
            return "Incomplete: open goals remain"
        if self.has_mvar:
            return "Incomplete: contains metavariable(s)"
        if self.kernel_bad:
            return "Error: kernel type check failed: (kernel) declaration type mismatch, '_' has type"
        if self.has_sorry:
            return "Incomplete: contains sorry"
        return "Completed"


@dataclass
class _Run:
    """What running a tactic block did."""

    goals: list[Goal]
    axioms: set[str] = field(default_factory=set)
    error: bool = False
    sorry: bool = False
    mvar: bool = False
    kernel_bad: bool = False
    unknown: tuple[int, str] | None = None  # (offset, word) of a tactic the double does not know


def _binders(sig: str) -> tuple[str, ...]:
    """Hypotheses from the top-level binder groups before the signature's type: ``(a b : T)`` -> ``a b : T``."""
    hyps: list[str] = []
    i, depth, start = 0, 0, -1
    closing = {"(": ")", "{": "}", "[": "]", "⦃": "⦄"}
    opener = ""
    while i < len(sig):
        ch = sig[i]
        if depth == 0 and ch in closing:
            depth, start, opener = 1, i, ch
        elif depth and ch == opener:
            depth += 1
        elif depth and ch == closing.get(opener):
            depth -= 1
            if depth == 0:
                inner = " ".join(sig[start + 1: i].split())
                names, colon, typ = inner.partition(" : ")
                if colon:
                    hyps.append(f"{names} : {typ}")
                elif opener == "[":
                    hyps.append(f"inst✝ : {inner}")
        elif depth == 0 and ch == ":":
            break
        i += 1
    return tuple(hyps)


@dataclass
class FakeRepl:
    envs: list[dict[str, Decl]] = field(default_factory=list)
    states: list[ProofState] = field(default_factory=list)
    unsafe_io: bool = False  # test mode: perform #eval IO lines (see the module doc)
    version: str = field(default_factory=lambda: os.environ.get("LEMMAFLOW_FAKE_LEAN_VERSION", DEFAULT_LEAN_VERSION))

    # -- helpers -------------------------------------------------------------
    @staticmethod
    def _pos(text: str, offset: int) -> dict[str, int]:
        before = text[:offset]
        return {"line": before.count("\n") + 1, "column": offset - (before.rfind("\n") + 1)}

    def _msg(self, text: str | None, start: int, end: int, data: str, severity: str = "error") -> dict[str, Any]:
        if text is None:  # tactic mode: the REPL reports messages of a step at line 0, column 0
            zero = {"line": 0, "column": 0}
            return {"severity": severity, "pos": zero, "endPos": dict(zero), "data": data}
        return {"severity": severity, "pos": self._pos(text, start), "endPos": self._pos(text, end), "data": data}

    @staticmethod
    def _norm(s: str) -> str:
        return " ".join(s.split())

    @staticmethod
    def _conclusion(sig: str) -> str:
        depth, cut = 0, -1
        for i, ch in enumerate(sig):
            if ch in "([{⟨⦃":
                depth += 1
            elif ch in ")]}⟩⦄":
                depth -= 1
            elif ch == ":" and depth == 0 and sig[i + 1: i + 2] != "=":
                cut = i
        return " ".join(sig[cut + 1:].split())

    def _record(self, state: ProofState) -> int:
        self.states.append(state)
        return len(self.states) - 1

    # -- tactics -------------------------------------------------------------
    def _tactics(self, text: str, base: int, goals: list[Goal], decls: dict[str, Decl], full: str | None,
                 out: dict[str, Any]) -> _Run:
        """Run the tactics in ``text`` (at offset ``base`` of ``full``; ``full`` None in tactic mode)."""
        run = _Run(list(goals))

        def fail(start: int, end: int, data: str) -> _Run:
            out["messages"].append(self._msg(full, start, end, data))
            # error recovery: the goals left are closed with `sorry` (what Lean's elaborator does)
            run.goals, run.error, run.sorry = [], True, True
            run.axioms.add("sorryAx")
            return run

        for m in re.finditer(r"[^;\n]+", text):
            tac = m.group(0).strip()
            if not tac:
                continue
            start = base + m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))
            end = start + len(tac)
            word, _, arg = tac.partition(" ")
            arg = arg.strip()
            if word not in _KNOWN:
                if full is None:
                    run.unknown = (start, word)
                    return run
                return fail(start, end, f"fake REPL: unknown tactic '{tac}'")
            if word == "skip":
                continue
            if not run.goals:
                return fail(start, end, "No goals to be solved")
            goal, rest = run.goals[0], run.goals[1:]
            if word in _CLOSERS and not arg:
                run.goals = rest
            elif word == "native_decide":
                run.goals = rest
                run.axioms.add("Lean.ofReduceBool")
            elif word in ("sorry", "admit") and not arg:
                # in tactic mode the new state's root is the request's root, whose proof holds this sorry
                sid = self._record(ProofState([goal], decls, has_sorry=full is None))
                entry: dict[str, Any] = {"goal": goal.pretty(), "proofState": sid}
                if full is not None:
                    entry = {**entry, "pos": self._pos(full, start), "endPos": self._pos(full, end)}
                out["sorries"].append(entry)
                run.goals, run.sorry = rest, True
                run.axioms.add("sorryAx")
            elif word in ("exact", "apply") and re.fullmatch(r"\?\w*", arg):
                run.goals, run.mvar = rest, True
            elif word in ("exact", "apply") and arg:
                name = arg.lstrip("@")
                hyp = goal.hyp_type(name)
                if hyp is not None:
                    if self._norm(hyp) != self._norm(goal.text):
                        return fail(start, end, f"fake REPL: type mismatch: {name} : {hyp}")
                    run.goals = rest
                elif name in decls:
                    run.goals = rest
                    run.axioms |= set(decls[name].axioms)
                else:
                    return fail(start + len(word) + 1, end, f"Unknown identifier `{name}`")
            elif word == "assumption" and not arg:
                if not any(self._norm(h.partition(" : ")[2]) == self._norm(goal.text) for h in goal.hyps):
                    return fail(start, end, "fake REPL: assumption failed")
                run.goals = rest
            elif word == "have":
                hm = re.fullmatch(r"(\S+)\s*:\s*(.+?)\s*:=\s*(?:by\s+)?sorry", arg)
                if not hm:
                    return fail(start, end, "fake REPL: only 'have h : T := by sorry' is known")
                sub = Goal(self._norm(hm.group(2)), goal.hyps)
                # in tactic mode the root's main goal stays open: closing this one leaves a metavariable
                sid = self._record(ProofState([sub], decls, has_mvar=full is None))
                entry = {"goal": sub.pretty(), "proofState": sid}
                if full is not None:
                    entry = {**entry, "pos": self._pos(full, end - 5), "endPos": self._pos(full, end)}
                out["sorries"].append(entry)
                new = Goal(goal.text, (*goal.hyps, f"{hm.group(1)} : {sub.text}"), goal.case)
                run.goals, run.mvar = [new, *rest], True  # the REPL reports "contains metavariable(s)" later
                run.axioms.add("sorryAx")
            elif word == "constructor" and not arg and " ∧ " in goal.text:
                left, right = goal.text.split(" ∧ ", 1)
                run.goals = [Goal(left, goal.hyps, "left"), Goal(right, goal.hyps, "right"), *rest]
            elif word == "fake_kernel_reject" and not arg:
                run.goals, run.kernel_bad = rest, True
            else:
                return fail(start, end, f"fake REPL: tactic '{tac}' failed")
        return run

    # -- commands ------------------------------------------------------------
    def command(self, req: dict[str, Any]) -> dict[str, Any]:
        text: str = _blank_comments(req["cmd"])
        if req.get("env") is not None:
            if not isinstance(req["env"], int) or not 0 <= req["env"] < len(self.envs):
                return {"message": "Unknown environment."}
            decls = dict(self.envs[req["env"]])
        else:
            decls = {}
        out: dict[str, Any] = {"messages": [], "sorries": []}
        for m in _EVAL.finditer(text):
            said = self._eval_io(m.group(1), m.group(2)) if self.unsafe_io else (
                "error", "#eval IO needs the double's test mode (--unsafe-io)")
            if said:  # as Lean, a unit result prints nothing
                out["messages"].append(self._msg(text, m.start(), m.end(), said[1], said[0]))
        text = _EVAL.sub(lambda m: " " * len(m.group(0)), text)
        starts = [m.start() for m in _ITEM.finditer(text)]
        if text[: starts[0] if starts else len(text)].strip():
            lead = len(text) - len(text.lstrip())
            out["messages"].append(self._msg(text, lead, lead + 1, "unexpected token; expected command"))
        for i, start in enumerate(starts):
            item = text[start: starts[i + 1] if i + 1 < len(starts) else len(text)]
            self._item(item, start, text, decls, out, req.get("env") is not None)
        self.envs.append(decls)
        answer: dict[str, Any] = {"env": len(self.envs) - 1}
        for key in ("messages", "sorries"):
            if out[key]:
                answer[key] = out[key]
        return answer

    @staticmethod
    def _eval_io(kind: str, rest: str) -> tuple[str, str] | None:
        """Perform one ``#eval IO...`` line for real (test mode only): (severity, message)."""
        import subprocess

        strings = [json.loads(x) for x in re.findall(_STRING, rest)]
        try:
            if kind == "FS.writeFile":
                with open(strings[0], "w") as f:
                    f.write(strings[1])
                return None
            if kind == "FS.readFile":
                with open(strings[0]) as f:
                    return "info", json.dumps(f.read())
            cmd = re.search(rf"cmd\s*:=\s*({_STRING})", rest)
            args = re.search(r"args\s*:=\s*#\[(.*)\]", rest)
            argv = [json.loads(cmd.group(1))] if cmd else []
            argv += [json.loads(x) for x in re.findall(_STRING, args.group(1))] if args else []
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            if done.returncode:
                return "error", f"process '{argv[0]}' exited with code {done.returncode}\n{done.stderr}"
            return "info", json.dumps(done.stdout)
        except (OSError, IndexError, ValueError, subprocess.SubprocessError) as e:
            return "error", str(e)

    def _item(self, item: str, start: int, full: str, decls: dict[str, Decl], out: dict[str, Any],
              has_env: bool) -> None:
        kw = item.split(None, 1)[0]
        end = start + len(item.rstrip())
        if kw == "import":
            if has_env:
                out["messages"].append(self._msg(full, start, end, "invalid 'import' command, it must be used in the beginning of the file"))
            return
        if kw in ("open", "set_option", "namespace", "section", "end"):
            return
        if kw == "#eval":
            if re.fullmatch(r"#eval\s+Lean\.versionString\s*", item):
                out["messages"].append(self._msg(full, start, start + 5, json.dumps(self.version), "info"))
            else:
                out["messages"].append(self._msg(full, start, end, "fake REPL: only '#eval Lean.versionString' is known"))
            return
        if kw == "#print":
            m = re.match(r"#print\s+axioms\s+@?(\S+)", item)
            if not m:
                out["messages"].append(self._msg(full, start, end, "fake REPL: only '#print axioms N' is known"))
            elif m.group(1) not in decls:
                out["messages"].append(self._msg(full, start, end, f"Unknown constant `{m.group(1)}`"))
            else:
                ax = sorted(decls[m.group(1)].axioms)
                data = (f"'{m.group(1)}' depends on axioms: [{', '.join(ax)}]" if ax
                        else f"'{m.group(1)}' does not depend on any axioms")
                out["messages"].append(self._msg(full, start, end, data, "info"))
            return
        if kw == "axiom":
            m = re.match(r"axiom\s+(\S+)\s*(.*)", item, re.S)
            if not m or m.group(1) in decls:
                out["messages"].append(self._msg(full, start, end, "fake REPL: bad or duplicate axiom"))
                return
            decls[m.group(1)] = Decl(self._norm(m.group(2)), frozenset({m.group(1)}))
            return
        m = re.match(r"(theorem|lemma|def|example)\s+", item)
        assert m is not None
        rest_at = m.end()
        name = None
        name_span = (start, start + len(kw))  # the REPL reports the sorry warning at the name (`example`: keyword)
        if kw != "example":
            nm = re.match(r"[^\s:({\[]+", item[rest_at:])
            name = nm.group(0) if nm else None
            if name is None:
                out["messages"].append(self._msg(full, start, end, "expected identifier"))
                return
            name_span = (start + rest_at, start + rest_at + len(name))
            if name in decls:
                out["messages"].append(self._msg(full, *name_span, f"'{name}' has already been declared"))
                return
            rest_at += len(name)
        assign = item.find(":=", rest_at)
        if assign < 0:
            out["messages"].append(self._msg(full, end, end, "unexpected end of input; expected ':='"))
            return
        raw_sig = item[rest_at:assign]
        sig = self._norm(raw_sig)
        alias = re.fullmatch(r": type_of% @(\S+)", sig)
        if alias:
            if alias.group(1) not in decls:
                out["messages"].append(self._msg(full, start, end, f"Unknown identifier `{alias.group(1)}`"))
                return
            sig = decls[alias.group(1)].type
        body = item[assign + 2:].strip()
        if kw == "def" and body != "sorry" and not re.match(r"by\b", body):  # other definition bodies are not read
            decls[name or ""] = Decl(sig, frozenset())
            return
        proof_at = assign + 2
        proof = item[proof_at:]
        proof_start = start + proof_at + (len(proof) - len(proof.lstrip()))
        proof = proof.strip()
        root = Goal(self._conclusion(sig), _binders(sig))
        axioms: set[str] = set()
        error = False
        if proof.startswith("by") and (len(proof) == 2 or not proof[2].isalnum()):
            run = self._tactics(proof[2:], proof_start + 2, [root], decls, full, out)
            axioms, error = run.axioms, run.error
            if not error and run.goals:
                listing = "\n".join(g.pretty() for g in run.goals)
                out["messages"].append(self._msg(full, proof_start, proof_start + len(proof), f"unsolved goals\n{listing}"))
                error = True
            if run.mvar and not error:
                out["messages"].append(self._msg(full, *name_span, "(kernel) declaration has metavariables"))
                error = True
        elif proof == "sorry":
            out["sorries"].append({"goal": root.pretty(), "proofState": self._record(ProofState([root], decls)),
                                   "pos": self._pos(full, proof_start), "endPos": self._pos(full, proof_start + 5)})
            axioms = {"sorryAx"}
        elif proof in ("rfl", "trivial"):
            pass
        elif re.fullmatch(r"@?[^\s()]+", proof):
            other = proof.lstrip("@")
            if other not in decls:
                out["messages"].append(self._msg(full, proof_start, proof_start + len(proof), f"Unknown identifier `{other}`"))
                error = True
            elif decls[other].type != sig:
                out["messages"].append(self._msg(
                    full, proof_start, proof_start + len(proof),
                    f"type mismatch\n  {proof}\nhas type\n  {decls[other].type}\nbut is expected to have type\n  {sig}"))
                error = True
            else:
                axioms = set(decls[other].axioms)
        else:
            out["messages"].append(self._msg(full, proof_start, proof_start + len(proof), "fake REPL: term not understood"))
            error = True
        if "sorryAx" in axioms and not error:
            out["messages"].append(self._msg(full, *name_span, SORRY_WARNING, "warning"))
        if error:
            axioms.add("sorryAx")
        if name is not None:
            decls[name] = Decl(sig, frozenset(axioms))

    def tactic(self, req: dict[str, Any]) -> dict[str, Any]:
        ps = req["proofState"]
        if not isinstance(ps, int) or not 0 <= ps < len(self.states):
            return {"message": "Unknown proof state."}
        old = self.states[ps]
        out: dict[str, Any] = {"messages": [], "sorries": []}
        run = self._tactics(req["tactic"], 0, list(old.goals), old.decls, None, out)
        if run.unknown is not None:
            # the column as the recorded REPL answer for "exat 42" gives it (test/unknown_tactic)
            return {"message": f"Lean error:\n<input>:1:{run.unknown[0] + 1}: unknown tactic"}
        state = ProofState(run.goals, old.decls, old.has_sorry or run.sorry, old.has_mvar or run.mvar,
                           old.kernel_bad or run.kernel_bad)
        answer: dict[str, Any] = {"proofState": self._record(state), "goals": [g.pretty() for g in run.goals]}
        for key in ("messages", "sorries"):
            if out[key]:
                answer[key] = out[key]
        if not LEGACY:
            answer["proofStatus"] = state.status()
        return answer

    # -- pickling (the double's own JSON, where the REPL writes an .olean) ----
    def _pickle_env(self, req: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(req["env"], int) or not 0 <= req["env"] < len(self.envs):
            return {"message": "Unknown environment."}
        decls = {k: [d.type, sorted(d.axioms)] for k, d in self.envs[req["env"]].items()}
        with open(req["pickleTo"], "w", encoding="utf-8") as f:
            json.dump({"decls": decls}, f)
        return {"env": req["env"]}

    def _unpickle_env(self, req: dict[str, Any]) -> dict[str, Any]:
        with open(req["unpickleEnvFrom"], encoding="utf-8") as f:
            data = json.load(f)
        self.envs.append({k: Decl(t, frozenset(a)) for k, (t, a) in data["decls"].items()})
        return {"env": len(self.envs) - 1}

    def _step_answer(self, state: ProofState) -> dict[str, Any]:
        answer: dict[str, Any] = {"proofState": self._record(state), "goals": [g.pretty() for g in state.goals]}
        if not LEGACY:
            answer["proofStatus"] = state.status()
        return answer

    def _pickle_state(self, req: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(req["proofState"], int) or not 0 <= req["proofState"] < len(self.states):
            return {"message": "Unknown proof State."}  # sic: the REPL's wording here
        st = self.states[req["proofState"]]
        data = {"goals": [[g.text, list(g.hyps), g.case] for g in st.goals],
                "decls": {k: [d.type, sorted(d.axioms)] for k, d in st.decls.items()},
                "flags": [st.has_sorry, st.has_mvar, st.kernel_bad]}
        with open(req["pickleTo"], "w", encoding="utf-8") as f:
            json.dump(data, f)
        return self._step_answer(st)  # the REPL answers a new proof state id for the same state

    def _unpickle_state(self, req: dict[str, Any]) -> dict[str, Any]:
        if req.get("env") is not None and not (isinstance(req["env"], int) and 0 <= req["env"] < len(self.envs)):
            return {"message": "Unknown environment."}
        with open(req["unpickleProofStateFrom"], encoding="utf-8") as f:
            data = json.load(f)
        goals = [Goal(t, tuple(h), c) for t, h, c in data["goals"]]
        decls = {k: Decl(t, frozenset(a)) for k, (t, a) in data["decls"].items()}
        return self._step_answer(ProofState(goals, decls, *data["flags"]))

    def handle(self, req: Any) -> dict[str, Any]:
        """One request's answer; :class:`ValueError` for a request the REPL cannot parse (it exits then)."""
        if not isinstance(req, dict):
            raise ValueError("Could not parse as a valid JSON command:\nexpected object")
        if isinstance(req.get("tactic"), str) and isinstance(req.get("proofState"), int):
            return self.tactic(req)
        if isinstance(req.get("pickleTo"), str) and isinstance(req.get("env"), int):
            return self._pickle_env(req)
        if isinstance(req.get("unpickleEnvFrom"), str):
            return self._unpickle_env(req)
        if isinstance(req.get("pickleTo"), str) and isinstance(req.get("proofState"), int):
            return self._pickle_state(req)
        if isinstance(req.get("unpickleProofStateFrom"), str):
            return self._unpickle_state(req)
        if isinstance(req.get("cmd"), str) and (req.get("env") is None or isinstance(req.get("env"), int)):
            return self.command(req)
        raise ValueError("Could not parse as a valid JSON command:\nproperty not found: cmd")


def _requests(stream: Any) -> Any:
    """Queries as the REPL's ``getLines`` reads them: lines up to a blank line."""
    lines: list[str] = []
    for line in stream:
        if line.strip():
            lines.append(line.rstrip())
            continue
        if lines:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def main() -> None:
    repl = FakeRepl(unsafe_io="--unsafe-io" in sys.argv[1:])
    for query in _requests(sys.stdin):
        if query.startswith("#") or query.startswith("--"):
            continue  # the REPL skips such input without answering
        if "#fake_crash" in query:
            os._exit(3)
        if "#fake_hang" in query:
            while True:
                time.sleep(3600)
        if "#fake_notice" in query:  # a notice line before a normal answer
            sys.stdout.write("info: a toolchain notice\n")
            query = query.replace("#fake_notice", "")
        if "#fake_garbage" in query:
            sys.stdout.write("this is not JSON\n\n")
            sys.stdout.flush()
            continue
        try:
            answer = repl.handle(json.loads(query))
        except (json.JSONDecodeError, ValueError) as e:
            # the REPL throws out of its loop: Lean prints the error and the process exits with status 1
            text = e.args[0] if not isinstance(e, json.JSONDecodeError) else f"Could not parse JSON:\n{e}"
            sys.stdout.flush()
            sys.stderr.write(f"uncaught exception: {render_json({'message': text})}\n")
            sys.stderr.flush()
            os._exit(1)
        sys.stdout.write(render_json(answer) + "\n\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
