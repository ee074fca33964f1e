"""Tactic-level access to Coq for tree search: the same interface as Lean's :mod:`.lean_tactics`.

:meth:`CoqTacticSession.open` starts one ``coqidetop`` (the prover's preload,
the task's header and context, then the original statement and ``Proof.``);
that point is :attr:`CoqTacticSession.root`. :meth:`CoqTacticSession.run_tactic`
runs one tactic (one or more Coq sentences: ``intros n.``, ``- simpl.``) on any
state recorded so far and answers a :class:`~.lean_tactics.TacticResult`:
``open`` (goals left), ``solved`` (no goal anywhere: focused, unfocused,
shelved), ``error`` (Coq rejected it; ``admit``/``give_up`` and vernacular such
as ``Qed.``/``Admitted.``/``Abort.`` are errors too, a state never counts as
solved through them), ``timeout`` (the process group was killed: every state
is gone, later calls raise :class:`~.lean_tactics.TacticSessionLost`).

Coq's document is linear and ``Edit_at`` discards everything after the state
it rewinds to, so a state here is an id for its *tactic script*. Running a
tactic on state ``s`` rewinds the document to the longest prefix it shares with
``s``'s script, replays the rest of ``s`` (already known good), adds the new
tactic and executes it (``Status``), then reads the goals (``Goal``). A
search expanding siblings one after the other replays nothing.

As with Lean, ``solved`` is not the verdict: assemble ``Proof. ... Qed.`` and
run the prover's statement-exact :meth:`~.coq.CoqProver.check`.

Example::

    from lemmaflow.tools.provers import ProofTask
    from lemmaflow.tools.provers.coq import CoqProver

    task = ProofTask(name="t", statement="Theorem t : forall n : nat, n + 0 = n.", proof="")
    with CoqProver(pool_size=1, preload="") as prover:
        with prover.tactic_session(task) as s:
            step = s.run_tactic(s.root.proof_state, "intros n.")
            print(step.status, step.goals)        # open ['n : nat\\n⊢ n + 0 = n']
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

from .base import ProofTask, ProverError
from .coq_ide import CoqIdeSession, IdeFailure, SessionDead, SessionTimeout, _text
from .coq_text import CoqSyntaxError, forbidden_command, split_sentences
from .lean_tactics import TacticResult, TacticSessionLost, TacticState

__all__ = ["CoqTacticSession", "CoqTacticSetupError", "FORBIDDEN_TACTIC"]

# Sentences a tactic may not be: they end, abandon or cheat the proof (the final check rejects them too).
FORBIDDEN_TACTIC = re.compile(
    r"^\s*(Qed|Defined|Admitted|Abort|Save|Proof|Theorem|Lemma|Fact|Remark|Corollary|Proposition|Example|"
    r"Definition|Fixpoint|Axiom|Parameter|Hypothesis|Variable|Require|Import|Export|Module|Section|End|"
    r"Reset|Back|Undo|Restart|Focus|Unfocus|Set|Unset|Local|Global|Opaque|Transparent|"
    r"admit|give_up)\b"
)


class CoqTacticSetupError(ProverError):
    """The header, context or original statement does not load (nothing to search from)."""


def _goal_text(goal: ET.Element) -> str:
    hyps = [" ".join(_text(h).split()) for h in goal.findall("list/richpp")]
    concl = " ".join(_text(goal.find("richpp")).split())
    return "\n".join([*hyps, f"⊢ {concl}"])


class CoqTacticSession:
    """One ``coqidetop`` for one statement; states are tactic scripts. Not thread-safe."""

    def __init__(self, ide: CoqIdeSession, task: ProofTask, timeout_s: float) -> None:
        self.ide, self.task, self.timeout_s = ide, task, timeout_s
        self.lost = False
        self._scripts: list[tuple[str, ...]] = [()]  # proof_state id -> its sentences after "Proof."
        self._doc: list[tuple[str, int]] = []  # sentences now in the document after the root, with state ids
        self._base = 0
        self.root = TacticState(proof_state=0)

    @classmethod
    def open(cls, ide: CoqIdeSession, task: ProofTask, preload: str, timeout_s: float) -> "CoqTacticSession":
        """Load ``preload`` + header + context + statement + ``Proof.`` into a started ``ide``."""
        s = cls(ide, task, timeout_s)
        state = ide.root
        for part, text in (("preload", preload), ("header", task.header), *(("context", c) for c in task.context),
                           ("statement", task.statement), ("statement", "Proof.")):
            try:
                sentences = split_sentences(text)
            except CoqSyntaxError as e:
                raise CoqTacticSetupError(f"the {part} does not parse: {e}") from None
            for sent in sentences:
                sid = ide.add(sent.text, state, timeout_s)
                if isinstance(sid, IdeFailure):
                    raise CoqTacticSetupError(f"the {part} does not parse: {sid.text}")
                state = sid
        st = ide.status(timeout_s)
        if not st.ok:
            raise CoqTacticSetupError(f"the statement does not load: {st.failure.text if st.failure else ''}")
        s._base = state
        s.root = TacticState(proof_state=0, goals=s._goals())
        if not s.root.goals:
            raise CoqTacticSetupError("the statement opens no goal")
        return s

    def script(self, proof_state: int) -> tuple[str, ...]:
        """The sentences (after ``Proof.``) that lead to ``proof_state``."""
        return self._scripts[proof_state]

    # -- protocol helpers ------------------------------------------------------
    def _goals(self) -> list[str]:
        value = self.ide._call('<call val="Goal"><unit/></call>', self.timeout_s)
        goals = value.find("option/goals")
        if value.get("val") != "good" or goals is None:
            return []
        lists = goals.findall("list")
        fg = lists[0].findall("goal") if lists else []
        bg = [g for pair in (lists[1].findall("pair") if len(lists) > 1 else []) for lst in pair.findall("list")
              for g in lst.findall("goal")]
        shelved = lists[2].findall("goal") if len(lists) > 2 else []
        return [_goal_text(g) for g in (*fg, *bg, *shelved)]

    def _given_up(self) -> bool:
        value = self.ide._call('<call val="Goal"><unit/></call>', self.timeout_s)
        lists = value.findall("option/goals/list")
        return len(lists) > 3 and bool(lists[3].findall("goal"))

    def _rewind(self, keep: int) -> None:
        """Cut the document back to its first ``keep`` sentences after the root."""
        if keep < len(self._doc):
            target = self._doc[keep - 1][1] if keep else self._base
            if not self.ide.edit_at(target, self.timeout_s):
                raise SessionDead("Edit_at failed")
            del self._doc[keep:]

    def _add(self, sentence: str) -> IdeFailure | None:
        tip = self._doc[-1][1] if self._doc else self._base
        sid = self.ide.add(sentence, tip, self.timeout_s)
        if isinstance(sid, IdeFailure):
            return sid
        self._doc.append((sentence, sid))
        return None

    # -- the search hook -------------------------------------------------------
    def run_tactic(self, proof_state: int, tactic: str, timeout_s: float | None = None) -> TacticResult:
        """Run ``tactic`` (Coq sentences) on ``proof_state`` (any state of this session)."""
        if self.lost or not self.ide.alive:
            raise TacticSessionLost("the coqidetop process of this tactic session is gone")
        t0 = time.monotonic()
        if not 0 <= proof_state < len(self._scripts):
            return TacticResult(status="error", error=f"Unknown proof state {proof_state}")
        try:
            sentences = [x.text for x in split_sentences(tactic)]
        except CoqSyntaxError as e:
            return TacticResult(status="error", error=f"not Coq sentences: {e}")
        if not sentences:
            return TacticResult(status="error", error="empty tactic")
        bad = next((x for x in sentences if FORBIDDEN_TACTIC.match(x)), None)
        if bad is not None:
            return TacticResult(status="error", error=f"not allowed in a tactic search: {bad!r}")
        # The deny-list of file/process commands is a first line here too; the session is confined.
        cmd = next((c for c in map(forbidden_command, sentences) if c), None)
        if cmd is not None:
            return TacticResult(status="error", error=f"forbidden command {cmd!r} (file system, process or document control)")
        saved = self.timeout_s
        self.timeout_s = timeout_s or saved
        try:
            return self._run(self._scripts[proof_state], sentences, t0)
        except SessionTimeout:
            self.lost = True
            return TacticResult(status="timeout", error=f"no answer within {self.timeout_s:g} s",
                                time_s=time.monotonic() - t0)
        except SessionDead as e:
            self.lost = True
            raise TacticSessionLost(f"coqidetop died: {e}") from None
        finally:
            self.timeout_s = saved

    def _run(self, script: tuple[str, ...], sentences: list[str], t0: float) -> TacticResult:
        common = 0
        while common < min(len(script), len(self._doc)) and self._doc[common][0] == script[common]:
            common += 1
        self._rewind(common)
        for sent in script[common:]:  # replay a known-good prefix
            fail = self._add(sent)
            if fail is not None:
                raise SessionDead(f"replaying a recorded state failed: {fail.text}")
        good = len(script)
        for sent in sentences:
            fail = self._add(sent)
            if fail is not None:
                self._rewind(good)
                return TacticResult(status="error", error=fail.text.strip(), time_s=time.monotonic() - t0)
        st = self.ide.status(self.timeout_s)
        if not st.ok:
            self._rewind(good)
            if not self.ide.status(self.timeout_s).ok:
                raise SessionDead("the document does not recover after an error")
            return TacticResult(status="error", error=(st.failure.text if st.failure else "").strip(),
                                time_s=time.monotonic() - t0)
        goals = self._goals()
        if self._given_up():
            self._rewind(good)
            return TacticResult(status="error", error="the tactic gives up goals (admit)", time_s=time.monotonic() - t0)
        self._scripts.append((*script, *sentences))
        new = len(self._scripts) - 1
        return TacticResult(status="solved" if not goals else "open", proof_state=new, goals=goals,
                            time_s=time.monotonic() - t0)

    def close(self) -> None:
        self.ide.kill()
