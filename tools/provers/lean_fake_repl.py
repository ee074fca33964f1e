"""A protocol-faithful *fake* of the Lean 4 REPL, for testing the client, pool and prover without Lean.

This is a test double, not a Lean: it checks nothing mathematical and proves
nothing. It speaks the REPL's wire protocol exactly (JSON request + blank line
in, pretty-printed JSON answer + blank line out, environment and proof-state
ids, ``{"message": ...}`` for unknown ids) over a tiny, documented semantics:

- Comments are ignored. A command is split into items at lines that start (column 0) with
  ``import``, ``theorem``, ``lemma``, ``def``, ``axiom``, ``example``,
  ``#print``, ``open``, ``set_option``, ``namespace``, ``section`` or ``end``.
  ``import`` is only allowed without ``env`` (as in the REPL); ``open``,
  ``set_option``, ``namespace``, ``section``, ``end`` are accepted and ignored.
- A declaration's *type* is the text of its signature (everything between its
  name and ``:=``), whitespace-normalized; ``: type_of% @X`` means ``X``'s type.
  Two types are "equal" iff those texts are equal. Declaring a name twice is an
  error. A declaration with an error is still added, depending on ``sorryAx``
  (Lean's error recovery does the same).
- ``axiom N : T`` declares ``N`` depending on the axiom ``N``; ``def N ... := body``
  declares ``N`` (its body is not read).
- A term proof is ``sorry``, ``rfl``, ``trivial`` or a declared name (``N`` or
  ``@N``), whose type must equal the expected one ("type mismatch" otherwise).
- A tactic proof ``by t1; t2`` (``;`` or new lines) starts with one goal,
  ``⊢ <text after the signature's last top-level colon>``. Tactics:
  ``rfl decide norm_num simp omega linarith nlinarith ring trivial positivity
  aesop`` close the first goal; ``native_decide`` closes it and adds the axiom
  ``Lean.ofReduceBool``; ``sorry``/``admit`` close it with a sorry (warning
  "declaration uses 'sorry'", a ``sorries`` entry with a proof state);
  ``exact N``/``apply N`` close it if ``N`` is declared (its axioms carry
  over); ``constructor`` splits ``A ∧ B`` into two goals; ``skip`` does
  nothing; anything else is an error at its position. Goals left over give
  "unsolved goals".
- ``#print axioms N`` answers an ``info`` message in Lean's wording.
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

__all__ = ["FakeRepl", "main"]

_ITEM = re.compile(r"^(import|theorem|lemma|def|axiom|example|#print|open|set_option|namespace|section|end)\b", re.M)
_EVAL = re.compile(r"^#eval[ \t]+IO\.(FS\.writeFile|FS\.readFile|Process\.run)\b([^\n]*)", re.M)
_STRING = r'"(?:[^"\\]|\\.)*"'
_CLOSERS = {"rfl", "decide", "norm_num", "simp", "omega", "linarith", "nlinarith", "ring", "trivial",
            "positivity", "aesop"}


def _blank_comments(text: str) -> str:
    """Comments (``--`` to the end of the line, ``/- -/``, not nested) become spaces; offsets are kept."""
    return re.sub(r"--[^\n]*|/-.*?-/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)


@dataclass
class Decl:
    type: str
    axioms: frozenset[str]


@dataclass
class Goal:
    text: str  # the conclusion, without "⊢ "


@dataclass
class FakeRepl:
    envs: list[dict[str, Decl]] = field(default_factory=list)
    states: list[tuple[list[Goal], dict[str, Decl]]] = field(default_factory=list)
    unsafe_io: bool = False  # test mode: perform #eval IO lines (see the module doc)

    # -- helpers -------------------------------------------------------------
    @staticmethod
    def _pos(text: str, offset: int) -> dict[str, int]:
        before = text[:offset]
        return {"line": before.count("\n") + 1, "column": offset - (before.rfind("\n") + 1)}

    def _msg(self, text: str, start: int, end: int, data: str, severity: str = "error") -> dict[str, Any]:
        return {"severity": severity, "pos": self._pos(text, start), "endPos": self._pos(text, end), "data": data}

    @staticmethod
    def _norm(s: str) -> str:
        return " ".join(s.split())

    @staticmethod
    def _conclusion(sig: str) -> str:
        depth, cut = 0, -1
        for i, ch in enumerate(sig):
            if ch in "([{⟨":
                depth += 1
            elif ch in ")]}⟩":
                depth -= 1
            elif ch == ":" and depth == 0 and sig[i + 1: i + 2] != "=":
                cut = i
        return " ".join(sig[cut + 1:].split())

    # -- tactics -------------------------------------------------------------
    def _tactics(self, text: str, base: int, goals: list[Goal], decls: dict[str, Decl], full: str,
                 out: dict[str, Any]) -> tuple[list[Goal], set[str], bool]:
        """Run tactics in ``text`` (at offset ``base`` of ``full``): (goals left, axioms, had error)."""
        axioms: set[str] = set()
        for m in re.finditer(r"[^;\n]+", text):
            tac = m.group(0).strip()
            if not tac:
                continue
            start = base + m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))
            end = start + len(tac)
            word, _, arg = tac.partition(" ")
            if word == "skip":
                continue
            if not goals:
                out["messages"].append(self._msg(full, start, end, "no goals to be proved"))
                return goals, axioms, True
            goal, rest = goals[0], goals[1:]
            if word in _CLOSERS and not arg:
                goals = rest
            elif word == "native_decide":
                goals, axioms = rest, axioms | {"Lean.ofReduceBool"}
            elif word in ("sorry", "admit"):
                sid = len(self.states)
                self.states.append(([goal], decls))
                out["sorries"].append({"pos": self._pos(full, start), "endPos": self._pos(full, end),
                                       "goal": f"⊢ {goal.text}", "proofState": sid})
                goals, axioms = rest, axioms | {"sorryAx"}
            elif word in ("exact", "apply") and arg:
                name = arg.strip().lstrip("@")
                if name not in decls:
                    out["messages"].append(self._msg(full, start + len(word) + 1, end, f"unknown identifier '{name}'"))
                    return goals, axioms, True
                goals, axioms = rest, axioms | set(decls[name].axioms)
            elif word == "constructor" and " ∧ " in goal.text:
                left, right = goal.text.split(" ∧ ", 1)
                goals = [Goal(left), Goal(right), *rest]
            else:
                out["messages"].append(self._msg(full, start, end, f"fake REPL: tactic '{tac}' failed"))
                return goals, axioms, True
        return goals, axioms, False

    # -- commands ------------------------------------------------------------
    def command(self, req: dict[str, Any]) -> dict[str, Any]:
        text: str = _blank_comments(req["cmd"])
        if "env" in req:
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
            self._item(item, start, text, decls, out, "env" in req)
        env = len(self.envs)
        self.envs.append(decls)
        answer: dict[str, Any] = {"env": env}
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
        if kw == "#print":
            m = re.match(r"#print\s+axioms\s+@?(\S+)", item)
            if not m:
                out["messages"].append(self._msg(full, start, end, "fake REPL: only '#print axioms N' is known"))
            elif m.group(1) not in decls:
                out["messages"].append(self._msg(full, start, end, f"unknown constant '{m.group(1)}'"))
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
        if kw != "example":
            nm = re.match(r"[^\s:({\[]+", item[rest_at:])
            name = nm.group(0) if nm else None
            if name is None:
                out["messages"].append(self._msg(full, start, end, "expected identifier"))
                return
            if name in decls:
                out["messages"].append(self._msg(full, start + rest_at, start + rest_at + len(name),
                                                 f"'{name}' has already been declared"))
                return
            rest_at += len(name)
        assign = item.find(":=", rest_at)
        if assign < 0:
            out["messages"].append(self._msg(full, end, end, "unexpected end of input; expected ':='"))
            return
        sig = self._norm(item[rest_at:assign])
        alias = re.fullmatch(r": type_of% @(\S+)", sig)
        if alias:
            if alias.group(1) not in decls:
                out["messages"].append(self._msg(full, start, end, f"unknown identifier '{alias.group(1)}'"))
                return
            sig = decls[alias.group(1)].type
        if kw == "def":  # a definition's body is not read
            decls[name or ""] = Decl(sig, frozenset())
            return
        proof_at = assign + 2
        proof = item[proof_at:]
        proof_start = start + proof_at + (len(proof) - len(proof.lstrip()))
        proof = proof.strip()
        axioms: set[str] = set()
        error = False
        if proof.startswith("by") and (len(proof) == 2 or not proof[2].isalnum()):
            goals, axioms, error = self._tactics(proof[2:], proof_start + 2, [Goal(self._conclusion(sig))],
                                                 decls, full, out)
            if not error and goals:
                listing = "\n".join(f"⊢ {g.text}" for g in goals)
                out["messages"].append(self._msg(full, proof_start, proof_start + 2, f"unsolved goals\n{listing}"))
                error = True
        elif proof == "sorry":
            out["sorries"].append({"pos": self._pos(full, proof_start), "endPos": self._pos(full, proof_start + 5),
                                   "goal": f"⊢ {self._conclusion(sig)}"})
            axioms = {"sorryAx"}
        elif proof in ("rfl", "trivial"):
            pass
        elif re.fullmatch(r"@?[^\s()]+", proof):
            other = proof.lstrip("@")
            if other not in decls:
                out["messages"].append(self._msg(full, proof_start, proof_start + len(proof), f"unknown identifier '{other}'"))
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
            out["messages"].append(self._msg(full, start, start + len(kw), "declaration uses 'sorry'", "warning"))
        if error:
            axioms.add("sorryAx")
        if name is not None:
            decls[name] = Decl(sig, frozenset(axioms))

    def tactic(self, req: dict[str, Any]) -> dict[str, Any]:
        ps = req["proofState"]
        if not isinstance(ps, int) or not 0 <= ps < len(self.states):
            return {"message": "Unknown proof state."}
        goals, decls = self.states[ps]
        out: dict[str, Any] = {"messages": [], "sorries": []}
        text = req["tactic"]
        left, _axioms, _error = self._tactics(text, 0, list(goals), decls, text, out)
        sid = len(self.states)
        self.states.append((left, decls))
        answer: dict[str, Any] = {"proofState": sid, "goals": [f"⊢ {g.text}" for g in left]}
        for key in ("messages", "sorries"):
            if out[key]:
                answer[key] = out[key]
        return answer

    def handle(self, req: Any) -> dict[str, Any]:
        if isinstance(req, dict) and isinstance(req.get("cmd"), str):
            return self.command(req)
        if isinstance(req, dict) and isinstance(req.get("tactic"), str) and "proofState" in req:
            return self.tactic(req)
        return {"message": "Could not parse as a valid JSON command"}


def _requests(stream: Any) -> Any:
    lines: list[str] = []
    for line in stream:
        if line.strip():
            lines.append(line)
            continue
        if lines:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def main() -> None:
    repl = FakeRepl(unsafe_io="--unsafe-io" in sys.argv[1:])
    for query in _requests(sys.stdin):
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
        except json.JSONDecodeError as e:
            answer = {"message": f"Could not parse JSON:\n{e}"}
        sys.stdout.write(json.dumps(answer, ensure_ascii=False, indent=1) + "\n\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
