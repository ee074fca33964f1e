r"""Proof search over tactics: states are prover proof states, actions are tactics the model proposes.

The instance of :class:`~.base.SearchProblem` for theorem proving (GPT-f,
arXiv 2009.03393; the llm-reasoners split, arXiv 2404.05221), so every
algorithm of :mod:`lemmaflow.agents.search` (and :class:`~.best_first.BestFirst`,
the usual one for proofs) runs on it unchanged:

- a state (:class:`ProofState`) is a prover proof state: its goals, the tactic
  script that reached it, and a status ``open`` / ``solved`` / ``error`` /
  ``timeout``;
- ``propose`` builds one prompt per state (theorem statement, current goals,
  tactics so far) and sends ALL states of a round in ONE ``ctx.generate`` with
  ``n`` samples each; one tactic is parsed per completion (the first line, code
  fences dropped; a Coq tactic gets its final ``.``); duplicates are merged;
- ``apply`` runs the tactic in a tactic session (Coq:
  :class:`~lemmaflow.tools.provers.coq_tactics.CoqTacticSession`; Lean:
  :class:`~lemmaflow.tools.provers.lean_tactics.TacticSession`); a tactic that
  leaves the goals of an ancestor state is an error (no progress);
- terminal: no goals left, or an error/timeout (a dead end: :meth:`is_solution`
  is False, so beam/best-first prune it);
- a state the session calls ``solved`` is **re-checked** by the prover's
  statement-exact ``check`` on the assembled proof text before it counts; a
  rejected one becomes an error (``rejected: ...``); a Lean state whose
  ``proofStatus`` is not "Completed" is an error at once, with no check;
- ``evaluate``: a hook ``value_fn(statement, state) -> float`` or the heuristic
  solved 1, dead 0, open ``0.9 / (1 + #goals)`` (fewer goals are better);
- ``answer``: the full proof text of a checked proof (``Proof. ... Qed.`` for
  Coq, the indented tactic block after ``:= by`` for Lean), else None.

Example (scripted model, real Coq)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.search import BestFirst, TacticProblem
    from lemmaflow.tools.provers import ProofTask
    from lemmaflow.tools.provers.coq import CoqProver

    task = ProofTask(name="t", statement="Theorem t : forall n : nat, n + 0 = n.", proof="")
    plan = {0: "intros n.", 1: "induction n.", 2: "reflexivity.", 3: "simpl.", 4: "rewrite IHn."}
    lm = ScriptedLM(lambda prompt, i: plan.get(prompt.count("\n- "), "reflexivity."))
    with CoqProver(pool_size=1, preload="") as prover, prover.tactic_session(task) as session:
        problem = TacticProblem(task, session, prover)
        res = asyncio.run(BestFirst(width=1).search(problem, RunContext(backend=lm)))
    assert res.best.answer.startswith("Proof.") and problem.checked[-1].proved
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Literal, Protocol, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...tools.provers.base import ProofResult, ProofTask, ProverError
from ..backends.base import ChatPrompt, Prompt, SamplingParams
from .base import Proposal, SearchProblem

__all__ = ["PROOF_STEP_PROMPT", "ProofState", "TacticConfig", "TacticProblem", "parse_tactic", "proof_text"]

PROOF_STEP_SYSTEM = "You are an expert in interactive theorem proving."
PROOF_STEP_PROMPT = (
    "We are proving this {language} theorem one tactic at a time.\n\n{statement}\n\n"
    "Tactics so far:\n{tactics}\n\nCurrent goals:\n{goals}\n\n"
    "Reply with exactly one next tactic on one line, nothing else."
)
_FIELDS = ("language", "statement", "tactics", "goals")
_LANGUAGE = {"coq": "Coq", "lean4": "Lean 4"}

Status = Literal["open", "solved", "error", "timeout"]
ValueFn = Callable[[str, "ProofState"], float]


class TacticSession(Protocol):
    """What the problem needs of a session (Coq's and Lean's both provide it)."""

    root: Any  # TacticState: proof_state + goals

    def run_tactic(self, proof_state: int, tactic: str, timeout_s: float | None = None) -> Any: ...


@dataclass(frozen=True)
class ProofState:
    proof_state: int | None
    goals: tuple[str, ...]
    tactics: tuple[str, ...] = ()
    status: Status = "open"
    error: str | None = None
    seen: tuple[tuple[str, ...], ...] = ()  # goals of every ancestor (no-progress check)


class TacticConfig(BaseModel):
    """How tactics are proposed (shared by the ProofSearch node's config)."""

    model_config = ConfigDict(extra="forbid")
    prompt: str = PROOF_STEP_PROMPT
    system: str | None = PROOF_STEP_SYSTEM
    chat: bool = True
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(64, ge=1, description="max tokens of one tactic")
    max_steps: int = Field(16, ge=1, description="a proof this many tactics deep is abandoned")
    tactic_timeout_s: float | None = Field(None, gt=0, description="per tactic (None: the prover's default)")

    @model_validator(mode="after")
    def _check_prompt(self):
        if "{goals}" not in self.prompt:
            raise ValueError("prompt must contain {goals}")
        try:
            self.prompt.format(**{f: "" for f in _FIELDS})
        except (KeyError, IndexError) as e:
            raise ValueError(f"prompt may only use the fields {', '.join(_FIELDS)}: {e!r}") from None
        return self


_FENCE = re.compile(r"^\s*```[\w-]*\s*$")


def parse_tactic(text: str, language: str) -> str:
    """One tactic from a completion: the first non-empty line outside code fences ('' when none)."""
    for line in text.splitlines():
        if _FENCE.match(line) or not line.strip():
            continue
        tac = line.strip().strip("`").strip()
        if language == "coq" and tac and not tac.endswith("."):
            tac += "."
        return tac
    return ""


def proof_text(language: str, tactics: Sequence[str]) -> str:
    """The proof a tactic script gives, in the form :class:`ProofTask.proof` expects."""
    if language == "coq":
        return "Proof.\n" + "".join(f"  {t}\n" for t in tactics) + "Qed."
    return "\n".join(f"  {t}" for t in tactics)


class TacticProblem(SearchProblem[ProofState, str]):
    """Tactic-level proof search on one statement, in an open tactic session of ``prover``."""

    def __init__(self, task: ProofTask, session: TacticSession, prover: Any,
                 config: TacticConfig | dict | None = None, *, value_fn: ValueFn | None = None):
        self.task, self.session, self.prover = task, session, prover
        self.language: str = getattr(prover, "language", "coq")
        if self.language == "lean4" and getattr(getattr(prover, "config", None), "pool_size", 2) < 2:
            # the session holds one REPL process until it closes; the final check would wait for it forever
            raise ValueError("a Lean tactic search needs LeanProver(pool_size >= 2): the session holds one "
                             "REPL process and the final statement-exact check needs another")
        self.config = config if isinstance(config, TacticConfig) else TacticConfig(**(config or {}))
        self.value_fn = value_fn
        self.max_depth = self.config.max_steps
        self.checked: list[ProofResult] = []  # every statement-exact re-check, in order
        self._cache: dict[tuple[int, str], ProofState] = {}
        self.tactic_calls = 0

    # -- prompts ---------------------------------------------------------------
    def prompt_for(self, state: ProofState) -> Prompt:
        c = self.config
        text = c.prompt.format(
            language=_LANGUAGE.get(self.language, self.language), statement=self.task.statement.strip(),
            tactics="\n".join(f"- {t}" for t in state.tactics) or "(none)",
            goals="\n\n".join(state.goals) or "(none)",
        )
        if c.chat:
            return ChatPrompt.user(text, system=c.system)
        return f"{c.system}\n\n{text}\n" if c.system else text

    # -- SearchProblem -----------------------------------------------------------
    def initial_state(self) -> ProofState:
        root = self.session.root
        return ProofState(proof_state=root.proof_state, goals=tuple(root.goals))

    async def propose(self, ctx, states: Sequence[ProofState], n: int) -> list[list[Proposal[str]]]:
        c = self.config
        params = SamplingParams(n=n, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens)
        gens = await ctx.generate([self.prompt_for(s) for s in states], params)
        out = []
        for g in gens:
            merged: dict[str, Proposal[str]] = {}
            for comp in g.completions:
                tac = parse_tactic(comp.text, self.language)
                if tac in merged:  # the same tactic twice: one child, both costs
                    merged[tac].tokens += comp.completion_tokens
                else:
                    merged[tac] = Proposal(action=tac, tokens=comp.completion_tokens, logprob=comp.mean_logprob)
            out.append(list(merged.values()))
        return out

    def apply(self, state: ProofState, action: str) -> ProofState:
        tactics = (*state.tactics, action)
        if state.status != "open" or state.proof_state is None:
            return ProofState(None, (), tactics, "error", "the state is already finished", state.seen)
        if not action:
            return ProofState(None, (), tactics, "error", "no tactic in the completion", state.seen)
        key = (state.proof_state, action)
        if key not in self._cache:
            self._cache[key] = self._run(state, action, tactics)
        return self._cache[key]

    def _run(self, state: ProofState, action: str, tactics: tuple[str, ...]) -> ProofState:
        seen = (*state.seen, state.goals)
        self.tactic_calls += 1
        try:
            r = self.session.run_tactic(state.proof_state, action, self.config.tactic_timeout_s)
        except ProverError as e:  # the session is lost (an earlier timeout, a crash)
            return ProofState(None, (), tactics, "error", f"session lost: {e}", seen)
        if r.status in ("error", "timeout"):
            return ProofState(None, tuple(r.goals), tactics, r.status, r.error, seen)
        goals = tuple(r.goals)
        if r.status == "open" and goals in seen:
            return ProofState(None, goals, tactics, "error", "no progress: the goals of an earlier state", seen)
        if r.status == "open":
            return ProofState(r.proof_state, goals, tactics, "open", None, seen)
        status = getattr(r, "proof_status", None)
        if status is not None and status != "Completed":
            # the REPL's proofStatus already says the proof term is not complete: no check to pay for
            return ProofState(None, (), tactics, "error", f"not a complete proof: {status}", seen)
        # solved in the session: only the prover's statement-exact check makes it a proof
        verdict = self.prover.check(self.task.model_copy(update={"proof": proof_text(self.language, tactics)}))
        self.checked.append(verdict)
        if not verdict.proved:
            return ProofState(None, (), tactics, "error", f"rejected by the final check: {verdict.summary()}", seen)
        return ProofState(r.proof_state, (), tactics, "solved", None, seen)

    def is_terminal(self, state: ProofState) -> bool:
        return state.status != "open"

    def is_solution(self, state: ProofState) -> bool:
        return state.status == "solved"

    def answer(self, state: ProofState) -> str | None:
        return proof_text(self.language, state.tactics) if state.status == "solved" else None

    def describe(self, action: str) -> str:
        return action

    async def evaluate(self, ctx, states: Sequence[ProofState]) -> list[float]:
        out = []
        for s in states:
            if s.status == "solved":
                out.append(1.0)
            elif s.status != "open":
                out.append(0.0)
            elif self.value_fn is not None:
                out.append(float(self.value_fn(self.task.statement, s)))
            else:
                out.append(0.9 / (1 + len(s.goals)))
        return out
