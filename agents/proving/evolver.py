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
from .coq_blocks import context_text, extract_coq, references, split_blocks
from .lego import CheckRecord

if TYPE_CHECKING:  # the library pulls numpy; imported when a node runs
    from ...skills_library.models import Entry

__all__ = ["Evolver", "GENERALIZE_PROMPT", "REQUEST_PROMPT"]

REQUEST_PROMPT = """Prove this lemma in Coq 8.16. You may state and prove helper lemmas first.
Tactics lia, lra, nia, nra, ring, field are loaded.
{lemmas}Imports (already loaded):
{header}
Lemma to prove:
{statement}

Answer with one ```coq block."""

GENERALIZE_PROMPT = """Here is a verified Coq lemma:
```coq
{source}
```
Imports (already loaded):
{header}
State and prove a more general, reusable version of it under a new name (for example with a parameter
in place of a constant, or fewer hypotheses). Answer with one ```coq block: the new lemma and its proof."""


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

    def _pick(self, store, status: str, counter: str, k: int) -> list[Entry]:
        if k <= 0:
            return []
        rows = store.list(kind="lemma", language="coq", status=status)
        rows = [e for e in rows if int(e.metadata.get(counter, 0)) < self.config.max_tries]
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
        out = self.Outputs()
        requests = await asyncio.to_thread(self._pick, store, "requested", "evolve_tries", c.requests_per_step)
        for req in requests:
            out.tried_requests.append(req.id)
            await asyncio.to_thread(self._count, store, req, "evolve_tries")
            try:
                if await self._prove_request(ctx, prover, store, req, out):
                    out.proved_requests.append(req.id)
            except Exception as e:  # one entry never stops the step
                ctx.trace.add("info", ctx.node_path, evolver_error=f"{type(e).__name__}: {e}", entry=req.id)
        lemmas = await asyncio.to_thread(self._pick, store, "verified", "generalize_tries", c.generalize_per_step)
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
        header = req.metadata.get("header", "")
        related = await asyncio.to_thread(retrieve_lemmas, store, req.statement, header, c.retrieve_k,
                                          exclude_names=[req.name])
        lemmas = ""
        if related:
            lemmas = ("Verified lemmas you may use by name:\n```coq\n" + "\n".join(e.statement for e in related)
                      + "\n```\n")
        answer = await self._ask(ctx, REQUEST_PROMPT.format(lemmas=lemmas, header=header.strip(),
                                                            statement=req.statement))
        code = extract_coq(answer)
        parsed = split_blocks(code, req.name)
        if parsed.main is None and parsed.loose.strip() and parsed.helpers:
            # helpers, then a bare "Proof. ... Qed.": the request's statement goes before the bare proof
            code = "\n".join([parsed.preamble, *(h.text for h in parsed.helpers), req.statement, parsed.loose])
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
        evidence = f"coq: {res.summary()}; axioms: {', '.join(res.axioms) or 'none'}; proved by the evolver"
        new_id = await asyncio.to_thread(add_verified, store, name=req.name, statement=req.statement,
                                         source=code, header=header, evidence=evidence,
                                         problem_id=req.provenance.problem_id, run_id=ctx.run_id,
                                         model=getattr(ctx.backend, "model_id", None),
                                         metadata={"evolved": "request",
                                                   "deps": [e.id for e in related if e.name in references(code, {e.name})]})
        return new_id is not None

    async def _generalize(self, ctx, prover, store, lem: Entry, out: Outputs) -> list[int]:
        from .library import add_verified, lemma_context, with_dependencies

        c = self.config
        header = lem.metadata.get("header", "")
        answer = await self._ask(ctx, GENERALIZE_PROMPT.format(source=lem.source, header=header.strip()))
        parsed = split_blocks(extract_coq(answer), main_name="")
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
            context.append(context_text(source, header, f"gen_{lem.id}_{b.name}"))
            evidence = f"coq: {res.summary()}; axioms: {', '.join(res.axioms) or 'none'}; generalizes {lem.id}"
            new_id = await asyncio.to_thread(add_verified, store, name=b.name, statement=b.statement, source=source,
                                             header=header, evidence=evidence, problem_id=lem.provenance.problem_id,
                                             run_id=ctx.run_id, model=getattr(ctx.backend, "model_id", None),
                                             metadata={"generalizes": lem.id, "evolved": "generalize",
                                                       "deps": [e.id for e in base]})
            if new_id is not None and new_id != lem.id:
                new.append(new_id)
        return new
