"""miniF2F in Lean 4 (``minif2f_lean4/minif2f.jsonl`` in the shared data folder): 488 problems.

Each JSONL row has ``name``, ``split`` (``valid``/``test``, 244 each), ``header``
(``import Mathlib``, ``import Aesop``, ``set_option maxHeartbeats 0``,
``open BigOperators Real Nat Topology Rat``: the same for every row),
``formal_statement`` (``theorem <name> ... := by`` and a newline: a proof
continues it), ``goal`` (the pretty-printed initial goal) and
``informal_prefix`` (the problem in words, as a Lean doc comment). The data
folder is found as for every dataset (:func:`lemmaflow.tools.datasets.data_root`:
``data_dir``, ``$LEMMAFLOW_DATA``, or ``<project root>/../shared/data``).

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

from ..datasets import data_root
from .base import ProofTask

__all__ = ["LeanProblem", "load_minif2f_lean"]

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


def load_minif2f_lean(split: Split | Literal["all"] = "valid", data_dir: str | os.PathLike[str] | None = None,
                      limit: int | None = None) -> list[LeanProblem]:
    """Load miniF2F-Lean4 problems in file order (``split="all"``: both splits)."""
    path = data_root(data_dir) / "minif2f_lean4" / "minif2f.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"miniF2F-Lean4 not found at {path}")
    out: list[LeanProblem] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                problem = LeanProblem(name=row["name"], split=row["split"], header=row["header"],
                                      statement=row["formal_statement"], goal=row.get("goal", ""),
                                      informal=row.get("informal_prefix", ""))
            except (json.JSONDecodeError, KeyError, ValidationError) as e:
                raise ValueError(f"{path}:{lineno}: not a miniF2F-Lean4 row: {e}") from None
            if split == "all" or problem.split == split:
                out.append(problem)
    return out[:limit] if limit is not None else out
