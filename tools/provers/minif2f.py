"""miniF2F in Coq (LLM4Rocq/miniF2F-rocq): one ``.v`` file per problem, ``valid/`` and ``test/``.

A file is a header (imports, and sometimes the problem's own definitions or
parameters), then ``Theorem <file name> ... .``, then ``Proof.`` and usually
``Admitted.``. The loader keeps the header and the statement sentence apart (the
statement is what a proof must prove, checked by the prover against exactly
this text) and drops the placeholder proof and anything after it (one file,
``imo_1966_p5``, adds a second variant theorem after the first; it is recorded
in ``meta["trailing"]``).

The files come from the dataset registry (``minif2f-coq``: downloaded into the
user cache and verified on first use, or read from an offline copy given as
``data_dir`` / ``$LEMMAFLOW_DATA``; see :mod:`lemmaflow.tools.datasets.store`).

Example::

    from lemmaflow.tools.provers.minif2f import load_minif2f_coq
    problems = load_minif2f_coq("valid")
    task = problems[0].task("Proof. lra. Qed.")   # a ProofTask for the prover
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ..datasets.loaders import DataDir, dataset_files
from .base import ProofTask
from .coq_text import declares, split_sentences

__all__ = ["CoqProblem", "load_minif2f_coq", "parse_coq_problem"]

Split = Literal["valid", "test"]


class CoqProblem(BaseModel):
    name: str
    split: str
    header: str
    statement: str
    path: str
    meta: dict[str, str] = Field(default_factory=dict)

    def task(self, proof: str, timeout_s: float | None = None, context: tuple[str, ...] = ()) -> ProofTask:
        return ProofTask(name=self.name, statement=self.statement, proof=proof, header=self.header,
                         context=context, timeout_s=timeout_s)

    def admitted_task(self, timeout_s: float | None = None) -> ProofTask:
        """The statement with ``Admitted``: type-checks the statement (never counts as proved)."""
        return self.task("Proof. Admitted.", timeout_s)


def parse_coq_problem(text: str, name: str, split: str, path: str = "") -> CoqProblem:
    sentences = split_sentences(text)
    idx = next((i for i, s in enumerate(sentences) if declares(s.text, name)
                and s.text.lstrip().split(None, 1)[0] in {"Theorem", "Lemma", "Example", "Corollary",
                                                            "Proposition", "Fact", "Remark"}), None)
    if idx is None:
        raise ValueError(f"{path or name}: no Theorem {name}")
    stmt = sentences[idx]
    header = text[: stmt.start].rstrip() + "\n"
    rest = sentences[idx + 1:]
    meta: dict[str, str] = {}
    # the placeholder proof: Proof. [Admitted.|Qed.|...]; anything after it is extra
    j = 0
    if j < len(rest) and rest[j].text.startswith("Proof"):
        j += 1
    if j < len(rest) and rest[j].text in ("Admitted.", "Qed.", "Abort."):
        j += 1
    if j < len(rest):
        meta["trailing"] = text[rest[j].start:].strip()
    return CoqProblem(name=name, split=split, header=header, statement=stmt.text.strip(), path=path, meta=meta)


def load_minif2f_coq(split: Split | Literal["all"] = "valid", data_dir: DataDir = None,
                     limit: int | None = None) -> list[CoqProblem]:
    """Load miniF2F-Coq problems, sorted by name within each split (``all``: valid, then test)."""
    splits: list[str] = ["valid", "test"] if split == "all" else [split]
    out: list[CoqProblem] = []
    for sp in splits:
        paths = [p for p in dataset_files("minif2f-coq", sp, data_dir) if p.suffix == ".v" and p.parent.name == sp]
        for path in sorted(paths, key=lambda p: p.name):
            text = path.read_text(encoding="utf-8")
            out.append(parse_coq_problem(text, path.stem, sp, str(path)))
    return out[:limit] if limit is not None else out
