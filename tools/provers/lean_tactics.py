"""Tactic-level access to Lean for tree search: states are REPL proof states, actions are tactics.

:meth:`TacticSession.open` elaborates the task's original statement as
``theorem NAME ... := by sorry`` on the header's environment; the ``sorry``'s
proof state is :attr:`TacticSession.root`. :meth:`TacticSession.run_tactic`
runs one tactic (or a ``;``/newline-separated block) on any state recorded so
far and answers a :class:`TacticResult`: ``open`` (new state, goals left),
``solved`` (no goals, no ``sorry``, and ``proofStatus`` "Completed" where the
REPL reports one), ``error`` (Lean rejected it, the tactic used
``sorry``/``admit``, or no goals are left but the REPL's ``proofStatus`` says the
proof is not complete: "Incomplete: contains metavariable(s)", "Incomplete:
contains sorry", "Error: kernel type check failed: ..."; such a state is
rejected here, without a statement-exact check), ``timeout`` (the process was
killed: every state of the session is gone and later calls raise
:class:`TacticSessionLost`). A REPL too old to report ``proofStatus`` gets the
earlier rule: no goals and no sorry is ``solved``, and the search's final
check decides.

States are ids inside one REPL process, so a session holds that process until
it closes. A search must not take ``solved`` as the verdict: assemble the
tactics into a proof text and :meth:`~.lean.LeanProver.check` it (that check
is statement-exact and reads ``#print axioms``).

Example (fake REPL: a test double, no Lean)::

    from lemmaflow.tools.provers import ProofTask
    from lemmaflow.tools.provers.lean import LeanProver
    from lemmaflow.tools.provers.lean_repl import fake_repl_command

    task = ProofTask(name="t", statement="theorem t (p q : Prop) : p ∧ q := by", proof="")
    with LeanProver(command=tuple(fake_repl_command())) as prover:
        with prover.tactic_session(task) as s:
            step = s.run_tactic(s.root.proof_state, "constructor")
            print(step.status, len(step.goals))  # open 2 (case left: ... ⊢ p, case right: ... ⊢ q)
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, Field

from .base import ProofTask, ProverError, ProverMessage
from .lean_check import LeanPlanError, statement_parts
from .lean_repl import LeanRepl, ReplDead, ReplProtocolError, ReplRequestError, ReplTimeout

__all__ = ["TacticResult", "TacticSession", "TacticSessionLost", "TacticState"]


class TacticSessionLost(ProverError):
    """The session's REPL process was killed (timeout, crash): its proof states no longer exist."""


class TacticState(BaseModel):
    proof_state: int
    goals: list[str] = Field(default_factory=list)


class TacticResult(BaseModel):
    status: Literal["open", "solved", "error", "timeout"]
    proof_state: int | None = None  # the new state (open/solved)
    goals: list[str] = Field(default_factory=list)
    messages: list[ProverMessage] = Field(default_factory=list)
    error: str | None = None
    time_s: float = 0.0
    proof_status: str | None = None  # the REPL's proofStatus (None: not reported by this REPL)

    @property
    def state(self) -> TacticState | None:
        return TacticState(proof_state=self.proof_state, goals=self.goals) if self.proof_state is not None else None


class TacticSession:
    """One process's proof states for one statement. Not thread-safe."""

    def __init__(self, repl: LeanRepl, env: int, root: TacticState, timeout_s: float) -> None:
        self.repl = repl
        self.env = env
        self.root = root
        self.timeout_s = timeout_s
        self.lost = False

    @classmethod
    def open(cls, repl: LeanRepl, header_env: int, task: ProofTask, timeout_s: float) -> "TacticSession":
        before, signature = statement_parts(task.statement, task.name)
        answer = repl.command(f"{before}theorem {task.name}{signature} := by\n  sorry", env=header_env,
                              timeout_s=timeout_s)
        if answer.errors:
            raise LeanPlanError(f"the original statement does not elaborate: {answer.errors[0].data}")
        states = [s for s in answer.sorries if s.proof_state is not None]
        if len(states) != 1:
            raise LeanPlanError(f"expected one proof state for the statement, got {len(states)}")
        root = TacticState(proof_state=states[0].proof_state, goals=[states[0].goal] if states[0].goal else [])
        return cls(repl, answer.env, root, timeout_s)

    def run_tactic(self, proof_state: int, tactic: str, timeout_s: float | None = None) -> TacticResult:
        """Run ``tactic`` on ``proof_state`` (any state of this session, including earlier ones)."""
        if self.lost or not self.repl.alive:
            raise TacticSessionLost("the REPL process of this tactic session is gone")
        t0 = time.monotonic()
        try:
            answer = self.repl.tactic(proof_state, tactic, timeout_s or self.timeout_s)
        except ReplTimeout:
            self.lost = True
            return TacticResult(status="timeout", error=f"no answer within {timeout_s or self.timeout_s:g} s",
                                time_s=time.monotonic() - t0)
        except (ReplDead, ReplProtocolError) as e:
            self.lost = True
            raise TacticSessionLost(f"the REPL process died: {e}") from None
        except ReplRequestError as e:  # unknown proof state, a Lean exception in the tactic
            return TacticResult(status="error", error=str(e), time_s=time.monotonic() - t0)
        msgs = [ProverMessage(severity=m.level, text=m.data, line=m.pos.line if m.pos else None,
                              column=m.pos.column if m.pos else None) for m in answer.messages]
        elapsed = time.monotonic() - t0
        ps = answer.proof_status
        if answer.errors:
            return TacticResult(status="error", messages=msgs, error=answer.errors[0].data, time_s=elapsed,
                                goals=answer.goals, proof_status=ps)
        if answer.uses_sorry:
            return TacticResult(status="error", messages=msgs, error="the tactic uses sorry", time_s=elapsed,
                                proof_status=ps)
        if not answer.goals and answer.completed is False:
            # no goals, yet the REPL's own check of the proof term failed: never solved, no final check paid
            return TacticResult(status="error", messages=msgs, error=f"not a complete proof: {ps}",
                                time_s=elapsed, proof_status=ps)
        status = "solved" if not answer.goals else "open"
        return TacticResult(status=status, proof_state=answer.proof_state, goals=answer.goals, messages=msgs,
                            time_s=elapsed, proof_status=ps)
