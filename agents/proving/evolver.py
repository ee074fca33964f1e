"""The LEGO-Prover evolver: between problems, work the lemma library.

Wang et al., "LEGO-Prover: Neural Theorem Proving with Growing Libraries"
(arXiv 2310.00656), section 3.2: besides the prover, an *evolver* grows the
library — it solves pending **requests** (helper statements a prover needed but
could not prove) and **evolves** verified lemmas into more general ones. Here
each step of the :class:`Evolver` node

- takes up to ``requests_per_step`` ``requested`` entries (fewest tries
  first), asks the model for a proof (it may add helper lemmas, which must be
  proved in the same text) and checks it with the real prover against the
  request's own statement (statement-exact, no ``Admitted``); a proved request
  becomes ``verified`` with the proof as its source and the verdict as evidence;
- takes up to ``generalize_per_step`` verified lemmas (least tried first) and
  asks for a more general lemma; each lemma of the answer is checked on its
  own (the original lemma is in its proved context) and enters the library
  only when Coq verifies it (``metadata["generalizes"]`` names the original).

Any prover works (:mod:`.languages`): the evolver works only on entries of
``prover.language`` and, with the prover's versions known, only on entries
verified under those versions — a lemma from another Coq/Lean/Mathlib version
is never generalized or used as context here (a request is only a statement:
any is worked on). New entries record the versions.

Tries are counted in each entry's ``metadata`` (``evolve_tries``,
``generalize_tries``) so a resumed job does not retry one entry forever.

Example (scripted model, real Coq)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.proving import Evolver
    from lemmaflow.agents.proving.library import add_request
    from lemmaflow.skills_library import open_store
    from lemmaflow.skills_library.embedding import HashingEmbedder
    from lemmaflow.tools.provers.coq import CoqProver

    stmt = "Lemma mul0 (n : nat) : n * 0 = 0."
    with CoqProver(pool_size=1) as coq, open_store("runs/lib.db", embedder=HashingEmbedder()) as store:
        rid = add_request(store, name="mul0", statement=stmt, header="Require Import Arith.", reason="open")
        lm = ScriptedLM([f"```coq\n{stmt}\nProof. induction n; [reflexivity | exact IHn]. Qed.\n```"])
        out = asyncio.run(Evolver(generalize_per_step=0)(RunContext(backend=lm, prover=coq, store=store)))
        print(out.proved_requests == [rid], store.get(rid).status)      # True verified
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ...tools.provers.base import ProofTask
from ..backends.base import ChatPrompt, SamplingParams
from ..node import Node, NodeConfig
from .languages import COQ, ProofLanguage, language_for
from .lego import CheckRecord, prover_versions

if TYPE_CHECKING:  # the library pulls numpy; imported when a node runs
    from ...skills_library.models import Entry

__all__ = ["Evolver", "GENERALIZE_PROMPT", "REQUEST_PROMPT"]

# Coq's prompts (Lean's: ``LEAN4.request_prompt`` ...; see :mod:`.languages`)
REQUEST_PROMPT = COQ.request_prompt
GENERALIZE_PROMPT = COQ.generalize_prompt


class Evolver(Node):
    kind = "lego_evolver"

    class Config(NodeConfig):
        requests_per_step: int = Field(2, ge=0)
        generalize_per_step: int = Field(1, ge=0)
        max_tries: int = Field(3, ge=1)  # per entry and kind of work
        retrieve_k: int = Field(3, ge=0)
        temperature: float = Field(0.7, ge=0)
        top_p: float = Field(0.95, gt=0, le=1)
        max_tokens: int = Field(1024, ge=1)
        check_timeout_s: float | None = Field(None, gt=0)

    class Inputs(BaseModel):
        pass

    class Outputs(BaseModel):
        tried_requests: list[int] = Field(default_factory=list)
        proved_requests: list[int] = Field(default_factory=list)
        tried_generalize: list[int] = Field(default_factory=list)
        generalized: list[int] = Field(default_factory=list)  # ids of new verified lemmas
        checks: list[CheckRecord] = Field(default_factory=list)

    async def _ask(self, ctx, text: str) -> str:
        c = self.config
        params = SamplingParams(n=1, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens)
        return (await ctx.generate([ChatPrompt.user(text)], params))[0].completions[0].text

    def _pick(self, store, status: str, counter: str, k: int, language: str = "coq",
              versions: dict[str, str] | None = None) -> list[Entry]:
        from .library import version_mismatch

        if k <= 0:
            return []
        rows = store.list(kind="lemma", language=language, status=status)
        # a request is only a statement (proved here, it records this run's versions); a verified lemma of
        # another version is not generalized here (its context would not be this run's library)
        rows = [e for e in rows if int(e.metadata.get(counter, 0)) < self.config.max_tries
                and (status == "requested" or not version_mismatch(e, versions))]
        rows.sort(key=lambda e: (int(e.metadata.get(counter, 0)), e.id))
        return rows[:k]

    @staticmethod
    def _count(store, entry: Entry, counter: str) -> None:
        cur = store.get(entry.id)
        if cur is not None:
            store.update(entry.id, metadata={**cur.metadata, counter: int(cur.metadata.get(counter, 0)) + 1})

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        c = self.config
        prover = ctx.require_prover()
        store = ctx.require_store()
        self._lang = language_for(getattr(prover, "language", "coq"))
        self._versions = await asyncio.to_thread(prover_versions, prover)
        lang, versions = self._lang.name, self._versions
        out = self.Outputs()
        requests = await asyncio.to_thread(self._pick, store, "requested", "evolve_tries", c.requests_per_step,
                                           lang, versions)
        for req in requests:
            out.tried_requests.append(req.id)
            await asyncio.to_thread(self._count, store, req, "evolve_tries")
            try:
                if await self._prove_request(ctx, prover, store, req, out):
                    out.proved_requests.append(req.id)
            except Exception as e:  # one entry never stops the step
                ctx.trace.add("info", ctx.node_path, evolver_error=f"{type(e).__name__}: {e}", entry=req.id)
        lemmas = await asyncio.to_thread(self._pick, store, "verified", "generalize_tries", c.generalize_per_step,
                                         lang, versions)
        for lem in lemmas:
            out.tried_generalize.append(lem.id)
            await asyncio.to_thread(self._count, store, lem, "generalize_tries")
            try:
                out.generalized += await self._generalize(ctx, prover, store, lem, out)
            except Exception as e:
                ctx.trace.add("info", ctx.node_path, evolver_error=f"{type(e).__name__}: {e}", entry=lem.id)
        return out

    async def _prove_request(self, ctx, prover, store, req: Entry, out: Outputs) -> bool:
        from .library import add_verified, lemma_context, retrieve_lemmas, with_dependencies

        c = self.config
        lang: ProofLanguage = self._lang
        header = req.metadata.get("header", "")
        related = await asyncio.to_thread(retrieve_lemmas, store, req.statement, header, c.retrieve_k,
                                          exclude_names=[req.name], language=lang.name, versions=self._versions,
                                          version_policy="exclude")
        lemmas = ""
        if related:
            lemmas = lang.request_lemmas.format(statements="\n".join(e.statement for e in related))
        answer = await self._ask(ctx, lang.request_prompt.format(lemmas=lemmas, header=header.strip(),
                                                                 statement=req.statement))
        code = lang.extract(answer)
        parsed = lang.split(code, req.name)
        if lang.name != "coq" or (parsed.main is None and parsed.loose.strip() and parsed.helpers):
            # helpers, then a bare proof: the request's statement goes before the bare proof (Lean: always
            # reassembled, so the model's `import` lines are not run; the header fixes the imports)
            code = lang.whole_text(parsed, req.statement)
        declared = {h.name for h in parsed.helpers}
        loaded = await asyncio.to_thread(with_dependencies, store, related)
        task = ProofTask(name=req.name, statement=req.statement, proof=code, header=header,
                         context=tuple(lemma_context(e) for e in loaded if e.name not in declared),
                         timeout_s=c.check_timeout_s)
        res = await prover.acheck(task)
        out.checks.append(CheckRecord(round=0, role="main", name=req.name, status=res.status, summary=res.summary(),
                                      time_s=round(res.time_s, 3)))
        if not res.proved:
            return False
        evidence = f"{lang.name}: {res.summary()}; axioms: {', '.join(res.axioms) or 'none'}; proved by the evolver"
        new_id = await asyncio.to_thread(add_verified, store, name=req.name, statement=req.statement,
                                         source=code, header=header, evidence=evidence,
                                         problem_id=req.provenance.problem_id, run_id=ctx.run_id,
                                         model=getattr(ctx.backend, "model_id", None),
                                         metadata={"evolved": "request",
                                                   "deps": [e.id for e in related if lang.references(code, {e.name})]},
                                         language=lang.name, versions=self._versions)
        return new_id is not None

    async def _generalize(self, ctx, prover, store, lem: Entry, out: Outputs) -> list[int]:
        from .library import add_verified, lemma_context, with_dependencies

        c = self.config
        lang: ProofLanguage = self._lang
        header = lem.metadata.get("header", "")
        answer = await self._ask(ctx, lang.generalize_prompt.format(source=lem.source, header=header.strip()))
        parsed = lang.split(lang.extract(answer), "")
        pre = (parsed.preamble + "\n") if parsed.preamble else ""
        base = await asyncio.to_thread(with_dependencies, store, [lem])
        context = [lemma_context(e) for e in base]
        new: list[int] = []
        for b in parsed.helpers:
            if b.name == lem.name or not b.closed:
                continue
            source = pre + b.text
            res = await prover.acheck(ProofTask(name=b.name, statement=b.statement, proof=source, header=header,
                                                context=tuple(context), timeout_s=c.check_timeout_s))
            out.checks.append(CheckRecord(round=0, role="helper", name=b.name, status=res.status,
                                          summary=res.summary(), time_s=round(res.time_s, 3)))
            if not res.proved:
                continue
            context.append(lang.context_text(source, header, f"gen_{lem.id}_{b.name}"))
            evidence = f"{lang.name}: {res.summary()}; axioms: {', '.join(res.axioms) or 'none'}; generalizes {lem.id}"
            new_id = await asyncio.to_thread(add_verified, store, name=b.name, statement=b.statement, source=source,
                                             header=header, evidence=evidence, problem_id=lem.provenance.problem_id,
                                             run_id=ctx.run_id, model=getattr(ctx.backend, "model_id", None),
                                             metadata={"generalizes": lem.id, "evolved": "generalize",
                                                       "deps": [e.id for e in base]},
                                             language=lang.name, versions=self._versions)
            if new_id is not None and new_id != lem.id:
                new.append(new_id)
        return new
