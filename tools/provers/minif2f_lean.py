"""miniF2F in Lean 4 (DeepSeek-Prover-V1.5's ``datasets/minif2f.jsonl``): 488 problems.

Each JSONL row has ``name``, ``split`` (``valid``/``test``, 244 each), ``header``
(``import Mathlib``, ``import Aesop``, ``set_option maxHeartbeats 0``,
``open BigOperators Real Nat Topology Rat``: the same for every row),
``formal_statement`` (``theorem <name> ... := by`` and a newline: a proof
continues it), ``goal`` (the pretty-printed initial goal) and
``informal_prefix`` (the problem in words, as a Lean doc comment). The file
comes from the dataset registry (``minif2f-lean4``: downloaded into the user
cache and verified on first use, or read from an offline copy given as
``data_dir`` / ``$LEMMAFLOW_DATA``; see :mod:`lemmaflow.tools.datasets.store`).

Example::

    from lemmaflow.tools.provers.minif2f_lean import load_minif2f_lean
    problems = load_minif2f_lean("valid")
    task = problems[0].task("  norm_num")   # a ProofTask for LeanProver (statement + header from the data)
"""

from __future__ import annotations

import json
import os
from typing import Literal

from pydantic import BaseModel, ValidationError

from ..datasets.loaders import DataDir, dataset_files
from .base import ProofTask

__all__ = ["LeanProblem", "load_minif2f_lean", "read_minif2f_lean"]

Split = Literal["valid", "test"]


class LeanProblem(BaseModel):
    name: str
    split: Split
    header: str
    statement: str  # the formal statement, ending with ':= by'
    goal: str = ""
    informal: str = ""

    def task(self, proof: str, timeout_s: float | None = None, context: tuple[str, ...] = ()) -> ProofTask:
        """A check of ``proof`` (a tactic block continuing the statement, or a full ``theorem <name>`` text)."""
        return ProofTask(name=self.name, statement=self.statement, proof=proof, header=self.header,
                         context=context, timeout_s=timeout_s)

    def prompt(self) -> str:
        """The informal problem, header and statement, as a model continues them."""
        return f"{self.header}{self.informal}{self.statement}"


def load_minif2f_lean(split: Split | Literal["all"] = "valid", data_dir: DataDir = None,
                      limit: int | None = None) -> list[LeanProblem]:
    """Load miniF2F-Lean4 problems in file order (``split="all"``: both splits)."""
    (path,) = [p for p in dataset_files("minif2f-lean4", split, data_dir) if p.name == "minif2f.jsonl"]
    return read_minif2f_lean(path, split, limit)


def read_minif2f_lean(path: str | os.PathLike[str], split: Split | Literal["all"] = "all",
                      limit: int | None = None) -> list[LeanProblem]:
    """Parse a miniF2F-Lean4 JSONL file; ``ValueError`` naming ``path:line`` for a bad row."""
    out: list[LeanProblem] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                problem = LeanProblem(name=row["name"], split=row["split"], header=row["header"],
                                      statement=row["formal_statement"], goal=row.get("goal", ""),
                                      informal=row.get("informal_prefix", ""))
            except (json.JSONDecodeError, KeyError, TypeError, ValidationError) as e:
                raise ValueError(f"{path}:{lineno}: not a miniF2F-Lean4 row: {e}") from None
            if split == "all" or problem.split == split:
                out.append(problem)
    return out[:limit] if limit is not None else out
