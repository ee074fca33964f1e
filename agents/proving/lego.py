"""LEGO-Prover: prove a Coq or Lean 4 theorem with helper lemmas, growing a library of verified lemmas.

Wang et al., "LEGO-Prover: Neural Theorem Proving with Growing Libraries",
ICLR 2024 (arXiv 2310.00656). Per problem the node

1. retrieves related **verified** lemmas from the skill library (``retrieved``
   events) and shows them to the model (``shown`` events);
2. asks for an informal sketch, then a formal Coq proof that may state and
   prove helper lemmas first;
3. splits the answer (:mod:`.coq_blocks`) and checks every helper on its own
   with the real prover — a helper may use retrieved lemmas and the helpers
   verified before it, prepended to the checked text as proved context;
4. checks the main theorem *statement-exactly*: the statement comes from the
   dataset (``Inputs.statement``), never from the model;
5. adds verified helpers to the library (status ``verified``, the checker's
   verdict as evidence, provenance) and failed helper statements as
   ``requested`` entries for the evolver (:mod:`.evolver`);
6. sends failed checks back to the model with Coq's messages, for at most
   ``repair_rounds`` rounds;
7. on success records ``used`` events for the retrieved lemmas the proof
   actually references (directly or through a verified helper).

With ``use_library=False`` the same node is the no-library baseline: no
retrieval, nothing written, helpers still checked as part of the proof.

Any :class:`~lemmaflow.tools.provers.base.Prover` works: the node takes its
language from ``prover.language`` (:mod:`.languages`: Coq's prompts and
``Lemma ... Qed.`` blocks, or Lean's ``theorem ... := by`` blocks, prompts and
header handling), retrieves only lemmas of that language, and records the
prover's :meth:`versions` with every lemma it adds. Lemmas verified under other
versions are handled by ``version_mismatch`` (``exclude`` by default: not shown,
counted in ``Outputs.version_mismatch`` and traced; ``warn``: shown, counted and
traced; ``error``: the attempt stops with :class:`~.library.VersionMismatch`).

Example (scripted model, real Coq)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.proving import LegoProver
    from lemmaflow.skills_library import open_store
    from lemmaflow.skills_library.embedding import HashingEmbedder
    from lemmaflow.tools.provers.coq import CoqProver

    answer = ("```coq\\nLemma add0 (n : nat) : n + 0 = n.\\nProof. lia. Qed.\\n"
              "Theorem t (n : nat) : n + 0 + 0 = n.\\nProof. rewrite !add0. reflexivity. Qed.\\n```")
    with CoqProver(pool_size=1) as coq, open_store("runs/lib.db", embedder=HashingEmbedder()) as store:
        ctx = RunContext(backend=ScriptedLM([answer]), prover=coq, store=store, problem_id="t")
        out = asyncio.run(LegoProver(sketch=False)(ctx, name="t", header="Require Import Arith.",
                                                  statement="Theorem t (n : nat) : n + 0 + 0 = n."))
        print(out.proved, out.helpers_verified, out.added)     # True ['add0'] [1]
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from ...tools.provers.base import ProofResult, ProofTask
from ..backends.base import ChatPrompt, SamplingParams
from ..node import Node, NodeConfig
from .coq_blocks import Block
from .languages import COQ, ProofLanguage, language_for

if TYPE_CHECKING:  # the library pulls numpy; imported when a node runs
    from ...skills_library.models import Entry

__all__ = ["CheckRecord", "FORMAL_PROMPT", "LegoProver", "REPAIR_PROMPT", "SKETCH_PROMPT", "feedback_text",
           "prover_versions"]

# Coq's prompts (the Lean ones: ``LEAN4.formal_prompt`` ...; see :mod:`.languages`)
SKETCH_PROMPT = COQ.sketch_prompt
FORMAL_PROMPT = COQ.formal_prompt
LEMMAS_BLOCK = COQ.lemmas_block
REPAIR_PROMPT = COQ.repair_prompt


def prover_versions(prover) -> dict[str, str]:
    """``prover.versions()``, or ``{}`` for a prover that cannot tell (a test fake without the method)."""
    fn = getattr(prover, "versions", None)
    if fn is None:
        return {}
    try:
        return {str(k): str(v) for k, v in (fn() or {}).items()}
    except Exception:  # a version probe never stops a proof
        return {}


class CheckRecord(BaseModel):
    """One Coq check the node ran."""

    round: int
    role: Literal["helper", "main"]
    name: str
    status: str
    summary: str
    time_s: float = 0.0


def feedback_text(name: str, result: ProofResult, limit: int = 600) -> str:
    """What the model sees of a failed check: the verdict, and Coq's first error with its line."""
    first = next((m for m in result.messages if m.severity == "error"), None)
    text = f"- {name}: {result.summary()}"
    if first is not None and first.text.strip() and first.text.strip() not in text:
        where = f" (line {first.line} of that lemma)" if first.line else ""
        text += f"\n  error{where}: {' '.join(first.text.split())[:limit]}"
    return text


class _Verified(BaseModel):
    name: str
    statement: str
    source: str
    context: str
    entry_id: int | None = None


class LegoProver(Node):
    kind = "lego_prover"

    class Config(NodeConfig):
        use_library: bool = True  # False: the no-library baseline (no retrieval, nothing written)
        retrieve_k: int = Field(4, ge=0)
        sketch: bool = True  # an informal sketch before the formal proof
        repair_rounds: int = Field(1, ge=0)
        temperature: float = Field(0.7, ge=0)
        top_p: float = Field(0.95, gt=0, le=1)
        max_tokens: int = Field(1024, ge=1)
        sketch_max_tokens: int = Field(384, ge=1)
        check_timeout_s: float | None = Field(None, gt=0)  # None: the prover's default
        request_failed_helpers: bool = True
        # library lemmas verified under other prover versions (Coq, Lean, Mathlib, REPL): exclude (default: a
        # run sees only lemmas of its own versions, so its result is reproducible), warn (shown; counted and
        # traced), error (the attempt stops). Every lemma shown is re-checked as context in this run anyway.
        version_mismatch: Literal["warn", "exclude", "error"] = "exclude"

    class Inputs(BaseModel):
        name: str  # the theorem's name
        statement: str  # ``Theorem NAME ... .`` from the dataset
        header: str = ""  # the dataset's imports and definitions
        informal: str = ""  # an informal statement, when the dataset has one

    class Outputs(BaseModel):
        proved: bool
        proof: str  # the main proof text of the last round (the checked one when proved)
        sketch: str = ""
        rounds: int = 0
        retrieved: list[int] = Field(default_factory=list)  # library ids shown to the model
        used: list[int] = Field(default_factory=list)  # retrieved ids the successful proof references
        used_names: list[str] = Field(default_factory=list)
        helpers_verified: list[str] = Field(default_factory=list)
        helpers_failed: list[str] = Field(default_factory=list)
        added: list[int] = Field(default_factory=list)  # library ids of verified helpers
        requests: list[int] = Field(default_factory=list)  # library ids of requested (failed) helpers
        checks: list[CheckRecord] = Field(default_factory=list)
        language: str = "coq"
        version_mismatch: list[int] = Field(default_factory=list)  # retrieved ids verified under other versions
        version_excluded: bool = False  # True: those were left out (policy exclude)

    def _params(self, max_tokens: int) -> SamplingParams:
        c = self.config
        return SamplingParams(n=1, temperature=c.temperature, top_p=c.top_p, max_tokens=max_tokens)

    async def _ask(self, ctx, text: str, max_tokens: int) -> str:
        gen = await ctx.generate([ChatPrompt.user(text)], self._params(max_tokens))
        return gen[0].completions[0].text

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        from .library import add_request, retrieve_lemmas

        c = self.config
        prover = ctx.require_prover()
        store = ctx.require_store() if c.use_library else None
        lang = language_for(getattr(prover, "language", "coq"))
        self._lang = lang
        self._versions = await asyncio.to_thread(prover_versions, prover) if store is not None else {}
        run_id, pid = ctx.run_id, ctx.problem_id
        model_id = getattr(ctx.backend, "model_id", None)
        retrieved: list[Entry] = []
        mismatched: list[Entry] = []
        if store is not None and c.retrieve_k:
            retrieved = await asyncio.to_thread(retrieve_lemmas, store, inputs.statement, inputs.header,
                                                c.retrieve_k, run_id=run_id, problem_id=pid, language=lang.name,
                                                versions=self._versions, version_policy=c.version_mismatch,
                                                mismatched=mismatched)
            if mismatched:
                ctx.trace.add("info", ctx.node_path, event="version_mismatch", policy=c.version_mismatch,
                              versions=self._versions, entries=[
                                  {"id": e.id, "name": e.name, "versions": e.metadata.get("versions")}
                                  for e in mismatched])
            if retrieved:
                await asyncio.to_thread(store.record_event, "shown", [e.id for e in retrieved],
                                        run_id=run_id, problem_id=pid)
        lemmas = (lang.lemmas_block.format(statements="\n".join(e.statement for e in retrieved)) if retrieved else "")
        out = self.Outputs(proved=False, proof="", retrieved=[e.id for e in retrieved], language=lang.name,
                           version_mismatch=[e.id for e in mismatched],
                           version_excluded=bool(mismatched) and c.version_mismatch == "exclude")
        if c.sketch:
            out.sketch = (await self._ask(ctx, lang.sketch_prompt.format(header=inputs.header.strip(),
                                                                           statement=inputs.statement), c.sketch_max_tokens)).strip()
        sketch = f"Informal proof sketch:\n{out.sketch}\n" if out.sketch else ""
        answer = await self._ask(ctx, lang.formal_prompt.format(lemmas=lemmas, header=inputs.header.strip(),
                                                               sketch=sketch, statement=inputs.statement), c.max_tokens)
        verified: dict[str, _Verified] = {}
        failed: dict[str, tuple[Block, str]] = {}
        for rnd in range(c.repair_rounds + 1):
            out.rounds = rnd + 1
            code = lang.extract(answer)
            feedback, main_text = await self._check_round(inputs, ctx, code, rnd, retrieved, verified, failed, out)
            out.proof = main_text
            if out.proved:
                break
            if rnd < c.repair_rounds:
                answer = await self._ask(ctx, lang.repair_prompt.format(statement=inputs.statement, code=code.strip(),
                                                                   feedback="\n".join(feedback), lemmas=lemmas),
                                         c.max_tokens)
        out.helpers_verified = list(verified)
        out.helpers_failed = [n for n in failed if n not in verified]
        if store is not None:
            out.added = sorted({v.entry_id for v in verified.values() if v.entry_id is not None})
            if c.request_failed_helpers:
                for name in out.helpers_failed:
                    block, reason = failed[name]
                    rid = await asyncio.to_thread(add_request, store, name=name, statement=block.statement,
                                                  header=inputs.header, reason=reason, problem_id=pid,
                                                  run_id=run_id, model=model_id, language=lang.name,
                                                  versions=self._versions)
                    if rid is not None:
                        out.requests.append(rid)
            if out.proved:
                self._mark_used(out, retrieved, verified)
                if out.used:
                    await asyncio.to_thread(store.record_event, "used", out.used, run_id=run_id, problem_id=pid)
        return out

    async def _check_round(self, inputs: Inputs, ctx, code: str, rnd: int, retrieved: list[Entry],
                           verified: dict[str, _Verified], failed: dict[str, tuple[Block, str]],
                           out: "LegoProver.Outputs") -> tuple[list[str], str]:
        from .library import add_verified, lemma_context, with_dependencies

        c = self.config
        lang: ProofLanguage = self._lang
        prover = ctx.prover
        store = ctx.store if c.use_library else None
        parsed = lang.split(code, inputs.name)
        if parsed.error:
            return [f"- {parsed.error}"], code
        pre = (parsed.preamble + "\n") if parsed.preamble else ""
        declared = {h.name for h in parsed.helpers}
        loaded = await asyncio.to_thread(with_dependencies, store, retrieved) if store is not None else retrieved
        context: list[str] = [lemma_context(e) for e in loaded if e.name not in declared]
        context += [v.context for v in verified.values() if v.name not in declared]
        feedback: list[str] = []
        dropped = [i for i in getattr(parsed, "dropped_imports", []) if i not in inputs.header]
        if dropped:  # Lean: the header fixes the imports; say so rather than fail on unknown names later
            feedback.append(f"- not run: {', '.join(dropped)} (the header is fixed and already loaded)")
        for h in parsed.helpers:
            if not h.closed:
                reason = lang.unclosed
                failed[h.name] = (h, reason)
                out.checks.append(CheckRecord(round=rnd, role="helper", name=h.name, status="failed", summary=reason))
                feedback.append(f"- {h.name}: {reason}")
                continue
            source = pre + h.text
            task = ProofTask(name=h.name, statement=h.statement, proof=source, header=inputs.header,
                             context=tuple(context), timeout_s=c.check_timeout_s)
            res = await prover.acheck(task)
            out.checks.append(CheckRecord(round=rnd, role="helper", name=h.name, status=res.status,
                                          summary=res.summary(), time_s=round(res.time_s, 3)))
            if not res.proved:
                failed[h.name] = (h, res.summary())
                feedback.append(feedback_text(h.name, res))
                continue
            entry_id = None
            if store is not None:
                evidence = f"{lang.name}: {res.summary()}; axioms: {', '.join(res.axioms) or 'none'}"
                entry_id = await asyncio.to_thread(
                    add_verified, store, name=h.name, statement=h.statement, source=source, header=inputs.header,
                    evidence=evidence, problem_id=ctx.problem_id, run_id=ctx.run_id,
                    model=getattr(ctx.backend, "model_id", None),
                    metadata={"deps": self._deps(h.text, retrieved, verified)}, language=lang.name,
                    versions=self._versions)
            v = _Verified(name=h.name, statement=h.statement, source=source, entry_id=entry_id,
                          context=lang.context_text(source, inputs.header, f"{ctx.problem_id}_{h.name}_{rnd}"))
            verified[h.name] = v
            failed.pop(h.name, None)
            context.append(v.context)
        main_text = lang.main_text(parsed, inputs.statement)
        if main_text is None:
            feedback.append(f"- {inputs.name}: the answer has no proof of the theorem {inputs.name}")
            return feedback, ""
        task = ProofTask(name=inputs.name, statement=inputs.statement, proof=main_text, header=inputs.header,
                         context=tuple(context), timeout_s=c.check_timeout_s)
        res = await prover.acheck(task)
        out.checks.append(CheckRecord(round=rnd, role="main", name=inputs.name, status=res.status,
                                      summary=res.summary(), time_s=round(res.time_s, 3)))
        if res.proved:
            out.proved = True
        else:
            feedback.append(feedback_text(inputs.name, res))
        return feedback, main_text

    def _deps(self, text: str, retrieved: list[Entry], verified: dict[str, _Verified]) -> list[int]:
        """Library ids a helper's proof references (retrieved lemmas, earlier verified helpers)."""
        references = self._lang.references
        lib = {e.name: e.id for e in retrieved}
        lib.update({n: v.entry_id for n, v in verified.items() if v.entry_id is not None})
        return sorted({lib[n] for n in references(text, set(lib)) if lib[n] is not None})

    def _mark_used(self, out: "LegoProver.Outputs", retrieved: list[Entry], verified: dict[str, _Verified]) -> None:
        """Retrieved lemmas the proof references: directly, or through a helper it references."""
        references = self._lang.references
        lib = {e.name: e.id for e in retrieved}
        reached = references(out.proof, set(verified) | set(lib))
        frontier = [n for n in reached if n in verified]
        while frontier:  # helpers may use helpers
            name = frontier.pop()
            for n in references(verified[name].source, set(verified) | set(lib)) - reached:
                reached.add(n)
                if n in verified:
                    frontier.append(n)
        used = sorted(n for n in reached if n in lib and n not in verified)
        out.used_names = used
        out.used = [lib[n] for n in used]
