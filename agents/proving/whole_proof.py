"""Whole-proof generation (DeepSeek-Prover, arXiv 2405.14333 / 2408.08152) with truncate-and-resume.

The baseline that tree search (:class:`~lemmaflow.agents.nodes.ProofSearch`) and
library methods (:class:`~.lego.LegoProver`) are compared against at equal
tokens. Per problem the node

1. samples ``parallel`` complete proofs at a time (the model continues the
   code block ``statement`` + newline, as DeepSeek-Prover completes a Lean
   file), up to ``samples`` in all;
2. checks each one statement-exactly with the given prover (Coq pool,
   ``coqc``, the Lean pool or its double: any :class:`~lemmaflow.tools.provers.Prover`);
3. for a failed proof, DeepSeek-Prover-V1.5's *truncate-and-resume*, at most
   ``resumes`` times per sample: the proof is cut at its first error (the
   prover's error position: Coq cuts before the failing sentence, Lean before
   the failing line), the kept prefix is replayed in the prover's tactic mode
   to read the goal state there, and the model continues from the prefix plus
   that state as a comment (``(* goals: ... *)`` / ``/- tactic state: ... -/``),
   in the same code block;
4. stops at the first proof the prover accepts (checks in flight are
   cancelled).

Budget: every generation goes through the ledger (``--max-samples``,
``--max-completion-tokens`` ... cut the loop cleanly: ``budget_limited``);
``token_budget`` caps the completion tokens this node spends. Each check is
traced (``whole_proof_check``), and so is the verdict (``whole_proof``).

Prover: ``WholeProof(prover=...)``, else the run's ``ctx.prover``, else one is
started from ``language`` + ``prover_options`` for the run and closed after.

Example (scripted model, real Coq)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.proving.whole_proof import WholeProof
    from lemmaflow.tools.provers.coq import CoqProver

    lm = ScriptedLM(["Proof. intros n. simpl. reflexivity. Qed.", "Proof. lia. Qed."])
    with CoqProver(pool_size=1) as coq:
        out = asyncio.run(WholeProof(samples=2, parallel=1, resumes=0)(
            RunContext(backend=lm, prover=coq), statement="Theorem t (n : nat) : n + 0 = n.",
            header="Require Import Arith."))
    print(out.proved, out.samples_used, out.proof)   # True 2 Proof. lia. Qed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import textwrap
from typing import Any, Literal

from pydantic import BaseModel, Field

from ...tools.provers.base import ProofResult, ProofTask, ProverError
from ..backends.base import ChatPrompt, SamplingParams
from ..budget import BudgetExceeded
from ..node import Node, NodeConfig
from ..search.base import SearchBudget

__all__ = ["Attempt", "WholeProof", "cut_at_error", "goal_comment", "split_problem"]

PROMPT = {
    "coq": ("Complete the following Coq 8.16 proof. The tactics lia, lra, nia, nra, ring and field are loaded.\n"
            "Write the whole proof after the statement (`Proof.` ... `Qed.`), in one code block.\n\n"
            "Imports (already loaded):\n{header}\n\nTheorem:\n{statement}"),
    "lean4": ("Complete the following Lean 4 (Mathlib) proof: write the tactic proof that follows `:= by`, "
              "in one code block.\n\nHeader (already loaded):\n{header}\n\nTheorem:\n{statement}"),
}
FENCE = {"coq": "```coq\n", "lean4": "```lean4\n"}
_COQ_END = re.compile(r"^\s*(Qed|Defined|Admitted|Abort|Save)\s*\.\s*$")
_COQ_PROOF = re.compile(r"^\s*Proof\b")
_COQ_DECL = re.compile(r"^\s*(?:#\[[^\]]*\]\s*)?(?:(?:Local|Global)\s+)?"
                       r"(Theorem|Lemma|Fact|Remark|Corollary|Proposition|Example)\s+([^\s:({\[]+)")
_LEAN_DECL = re.compile(r"^(?:@\[[^\]]*\]\s*)?(?:private\s+|protected\s+)?(theorem|lemma)\s+([^\s:({\[]+)", re.M)


class Attempt(BaseModel):
    """One checked proof: a fresh sample, or a resume of an earlier attempt from its first error."""

    id: int
    parent: int | None = None  # the attempt this one resumes
    kind: Literal["sample", "resume"]
    status: str
    summary: str
    error_line: int | None = None  # first error, in this attempt's proof text
    prefix_chars: int | None = None  # resume: characters of the parent kept (the verified prefix)
    goals: int | None = None  # resume: goals shown to the model at the cut (None: no state could be read)
    tokens: int = 0
    time_s: float = 0.0


def split_problem(text: str, language: str) -> tuple[str, str, str]:
    """``header + statement`` in one text (a ``solve`` question) -> (header, statement, name).

    Coq: the last ``Theorem``/``Lemma``/... sentence is the statement, the sentences before it the header.
    Lean: the last line-initial ``theorem``/``lemma`` starts the statement. ValueError when there is none.
    """
    if language == "coq":
        from ...tools.provers.coq_text import CoqSyntaxError, split_sentences

        try:
            sentences = split_sentences(text)
        except CoqSyntaxError as e:
            raise ValueError(f"no Theorem/Lemma statement in the text (it does not parse as Coq: {e})") from None
        idx = [i for i, s in enumerate(sentences) if _COQ_DECL.match(s.text)]
        if not idx:
            raise ValueError("no Theorem/Lemma statement in the text")
        s = sentences[idx[-1]]
        m = _COQ_DECL.match(s.text)
        return text[: s.start].strip(), text[s.start: s.end].strip(), m.group(2) if m else ""
    matches = list(_LEAN_DECL.finditer(text))
    if not matches:
        raise ValueError("no theorem/lemma statement in the text")
    m = matches[-1]
    stmt = text[m.start():].strip()
    stmt = re.sub(r"\s*(?:sorry)?\s*$", "", stmt)
    if not stmt.endswith(":= by"):
        stmt = re.sub(r"\s*:=\s*(?:by)?\s*$", "", stmt) + " := by"
    return text[: m.start()].strip(), stmt, m.group(2)


def _offset(text: str, line: int, column: int) -> int:
    lines = text.split("\n")
    line = max(1, min(line, len(lines)))
    return sum(len(x) + 1 for x in lines[: line - 1]) + min(max(column, 0), len(lines[line - 1]))


def _first_error(result: ProofResult) -> tuple[int, int] | None:
    for m in result.messages:
        if m.severity == "error" and m.line is not None:
            return m.line, m.column or 0
    return None


def cut_at_error(proof: str, result: ProofResult, language: str) -> tuple[str, str | None]:
    """The verified prefix of a failed proof and the tactics to replay to reach its state (None: unknown).

    Coq: the sentences that end before the first error (a proof that stopped early, with no error
    position, keeps everything before its closing ``Qed.``); tactics are the prefix's sentences after
    ``Proof.``. Lean: the lines before the error's line (no position: the whole text); tactics are the
    prefix itself, dedented.
    """
    err = _first_error(result)
    if language == "coq":
        from ...tools.provers.coq_text import CoqSyntaxError, split_sentences

        try:
            sentences = split_sentences(proof)
        except CoqSyntaxError:
            return "", None
        at = _offset(proof, *err) if err else None
        kept = []
        for s in sentences:
            if (at is not None and s.end > at) or _COQ_END.match(s.text):
                break
            kept.append(s)
        prefix = proof[: kept[-1].end] if kept else ""
        if any(_COQ_DECL.match(s.text) for s in kept):  # a full text: the tactics after its Proof.
            starts = [i for i, s in enumerate(kept) if _COQ_DECL.match(s.text)]
            kept = kept[starts[-1] + 1:]
        tactics = [s.text for s in kept if not _COQ_PROOF.match(s.text)]
        return prefix, " ".join(tactics)
    if err is None:
        prefix = proof.rstrip()
    else:
        prefix = proof[: _offset(proof, err[0], 0)].rstrip()
    tactics = textwrap.dedent(prefix).strip()
    return prefix, tactics


def goal_comment(goals: list[str], language: str) -> str:
    """The prover's goal state as a comment the model continues after (V1.5's ``/- tactic state -/``)."""
    if language == "coq":
        body = "\n\n".join(goals).replace("*)", "* )").replace("(*", "( *")
        return f"(* goals:\n{body}\n*)" if goals else "(* no goals left *)"
    body = "\n\n".join(goals).replace("-/", "- /").replace("/-", "/ -")
    return f"/- tactic state:\n{body}\n-/" if goals else "/- no goals -/"


class WholeProof(Node):
    """Sample whole proofs, check each statement-exactly, resume failed ones from their first error."""

    kind = "whole_proof"
    needs_prover = True  # `lemmaflow solve` starts one prover (--prover) for all problems

    class Config(NodeConfig):
        samples: int = Field(8, ge=1, description="fresh whole proofs at most")
        parallel: int = Field(4, ge=1, description="fresh proofs sampled per model call (n)")
        resumes: int = Field(1, ge=0, description="truncate-and-resume rounds per failed proof (0: off)")
        temperature: float = Field(1.0, ge=0)
        top_p: float = Field(0.95, gt=0, le=1)
        max_tokens: int = Field(1024, ge=1, description="max new tokens per sample or continuation")
        token_budget: int | None = Field(None, ge=1, description="completion tokens this node may spend")
        goal_state: bool = Field(True, description="show the prover's goals at the cut (V1.5); False: prefix only")
        check_timeout_s: float | None = Field(None, gt=0, description="per check (None: the prover's default)")
        language: Literal["coq", "lean4"] = Field("coq", description="prover started when none is given")
        prover_options: dict[str, Any] = Field(default_factory=dict, description="CoqConfig / LeanConfig fields")

    class Inputs(BaseModel):
        statement: str  # ``Theorem NAME ... .`` / ``theorem NAME ... := by`` (may carry the header before it)
        name: str = ""  # the theorem's name (default: read from the statement)
        header: str = ""  # imports and the dataset's definitions

    class Outputs(BaseModel):
        proved: bool
        status: Literal["proved", "failed"]
        answer: str | None = None  # the accepted proof (``solve`` reads ``answer``)
        proof: str = ""  # the accepted proof, or the last one checked
        check: str | None = None  # the prover's summary of ``proof``
        reason: str | None = None
        samples_used: int = 0
        resumes_used: int = 0
        checks: int = 0
        tokens: int = 0  # completion tokens this node spent
        budget_limited: bool = False
        attempts: list[Attempt] = Field(default_factory=list)

    def __init__(self, config=None, *, prover: Any | None = None, **overrides):
        super().__init__(config, **overrides)
        self.prover = prover

    def _make_prover(self):
        opts = self.config.prover_options
        if self.config.language == "coq":
            from ...tools.provers.coq import CoqProver

            return CoqProver(**{"pool_size": 1, **opts})
        from ...tools.provers.lean import LeanProver

        return LeanProver(**{"pool_size": 1, **opts})

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        with contextlib.ExitStack() as stack:
            prover = self.prover or ctx.prover
            if prover is None:
                prover = self._make_prover()
                await asyncio.to_thread(prover.start)
                stack.callback(prover.close)
            return await _Run(self.config, inputs, ctx, prover).go()


class _Run:
    """The state of one problem: attempts, budget, goal-state readings."""

    def __init__(self, config: WholeProof.Config, inputs: WholeProof.Inputs, ctx, prover) -> None:
        self.c, self.ctx, self.prover = config, ctx, prover
        self.language = "coq" if getattr(prover, "language", config.language) == "coq" else "lean4"
        header, statement, name = inputs.header, inputs.statement.strip(), inputs.name
        if not name:
            h, statement, name = split_problem(statement, self.language)
            header = "\n".join(x for x in (header.strip(), h) if x)
        self.header, self.statement, self.name = header, statement, name
        self.out = WholeProof.Outputs(proved=False, status="failed")
        self.budget = SearchBudget(ctx, config.token_budget, config.max_tokens)
        self.prompt = ChatPrompt.user(PROMPT[self.language].format(header=header.strip() or "(none)",
                                                                   statement=statement))
        self.opening = FENCE[self.language] + statement + "\n"
        self._session_failed = False
        self._session_lock = asyncio.Lock()

    # -- model -------------------------------------------------------------------------
    async def _generate(self, prompt: ChatPrompt, n: int) -> list[tuple[str, int]]:
        k = self.budget.fit(1, n)
        if k == 0:
            return []
        params = SamplingParams(n=k, temperature=self.c.temperature, top_p=self.c.top_p,
                                max_tokens=self.c.max_tokens, stop=("```",))
        try:
            gen = await self.ctx.generate([prompt], params)
        except BudgetExceeded as e:
            self.ctx.trace.add("budget_stop", self.ctx.node_path, error=str(e))
            self.budget.limited = True
            return []
        comps = gen[0].completions
        spent = sum(c.completion_tokens for c in comps)
        self.budget.charge(spent)
        self.out.tokens += spent
        return [(c.text, c.completion_tokens) for c in comps]

    # -- prover ------------------------------------------------------------------------
    async def _check(self, proof: str, kind: str, parent: int | None, **extra) -> tuple[Attempt, ProofResult]:
        task = ProofTask(name=self.name, statement=self.statement, proof=proof, header=self.header,
                         timeout_s=self.c.check_timeout_s)
        res = await self.prover.acheck(task)
        err = _first_error(res)
        att = Attempt(id=len(self.out.attempts), parent=parent, kind=kind, status=res.status, summary=res.summary(),
                      error_line=err[0] if err else None, time_s=round(res.time_s, 3), **extra)
        self.out.attempts.append(att)
        self.out.checks += 1
        self.ctx.trace.add("info", self.ctx.node_path, event="whole_proof_check", attempt=att.id, attempt_kind=kind,
                           parent=parent, status=res.status, summary=att.summary, proof=proof[:4000])
        return att, res

    async def _goals(self, tactics: str | None) -> list[str] | None:
        """The goals after ``tactics`` from the statement's root (None: the prover cannot say).

        A tactic session is opened for each reading and closed right after: a Lean session holds a REPL
        of the prover's pool, which the checks in flight need (a pool of one would deadlock otherwise).
        """
        if not self.c.goal_state or tactics is None or self._session_failed:
            return None
        opener = getattr(self.prover, "tactic_session", None)
        if opener is None:
            return None
        task = ProofTask(name=self.name, statement=self.statement, proof="", header=self.header)

        def read() -> list[str] | None:
            with opener(task) as session:
                if not tactics.strip():
                    return list(session.root.goals)
                step = session.run_tactic(session.root.proof_state, tactics)
                return list(step.goals) if step.status in ("open", "solved") else None

        async with self._session_lock:
            try:
                return await asyncio.to_thread(read)
            except (ProverError, ValueError, RuntimeError) as e:  # the statement does not open: stop trying
                self._session_failed = True
                self.ctx.trace.add("info", self.ctx.node_path, event="whole_proof_no_goal_state", error=str(e))
                return None

    # -- one sample and its resumes ------------------------------------------------------
    async def _chain(self, proof: str, tokens: int) -> tuple[str, ProofResult, Attempt]:
        att, res = await self._check(proof, "sample", None, tokens=tokens)
        for _ in range(self.c.resumes):
            if res.proved or res.status in ("timeout", "crashed") or self.budget.exhausted():
                break
            prefix, tactics = cut_at_error(proof, res, self.language)
            goals = await self._goals(tactics)
            kept = prefix + ("\n" if prefix else "")
            if goals is not None:
                kept += goal_comment(goals, self.language) + "\n"
            texts = await self._generate(self.prompt.continued(self.opening + kept), 1)
            if not texts:
                break
            self.out.resumes_used += 1
            proof = kept + texts[0][0]
            att, res = await self._check(proof, "resume", att.id, prefix_chars=len(prefix),
                                         goals=len(goals) if goals is not None else None, tokens=texts[0][1])
        return proof, res, att

    async def go(self) -> WholeProof.Outputs:
        c, out = self.c, self.out
        last: tuple[str, ProofResult] | None = None
        while out.samples_used < c.samples and not out.proved:
            prompt = self.prompt.continued(self.opening)
            texts = await self._generate(prompt, min(c.parallel, c.samples - out.samples_used))
            if not texts:
                break
            out.samples_used += len(texts)
            chains = [asyncio.ensure_future(self._chain(text, tokens)) for text, tokens in texts]
            try:
                for fut in asyncio.as_completed(chains):
                    proof, res, _att = await fut
                    last = (proof, res)
                    if res.proved:
                        out.proved = True
                        break
            finally:
                for fut in chains:  # stop at the first proved: the other checks and resumes are cancelled
                    fut.cancel()
                await asyncio.gather(*chains, return_exceptions=True)
        out.budget_limited = self.budget.limited
        if last is not None:
            out.proof, out.check = last[0], last[1].summary()
        if out.proved:
            out.status, out.answer = "proved", out.proof
        elif out.budget_limited:
            out.reason = "the budget ran out before a proof was found"
        elif not out.attempts:
            out.reason = "no sample was generated"
        else:
            out.reason = f"none of {out.checks} checked proofs was accepted"
        self.ctx.trace.add("info", self.ctx.node_path, event="whole_proof", proved=out.proved, proof=out.proof[:4000],
                           check=out.check, reason=out.reason, samples=out.samples_used, resumes=out.resumes_used,
                           tokens=out.tokens)
        return out
