r"""A simulated proof model with known odds, for measuring a lemma library's gain against theory.

Not a language model and never a result: a :class:`ScriptedLM` that writes
*real* proof texts (Coq or Lean 4) which the real checker accepts or rejects.
It comes with a suite of small problems that share **key lemmas**: problem
``p_i`` is provable in one line from its key lemma ``key_j`` (``j = i mod K``).

The model's odds depend only on what it is shown. For problem ``i`` it draws
``u = U(seed, problem)`` in [0, 1) (a seeded hash: the same draw whichever arm
asks; the model is meant for one attempt per problem) and succeeds iff ``u < q``, where ``q =
p_shown`` when the prompt's "Verified lemmas" block holds ``key_j`` and ``q =
p_hidden`` otherwise. On success it writes, when the lemma was shown, a proof
that uses it by name (checked with the library lemma as proved context), else
the key lemma as a helper *and* the proof that uses it (so a library arm
learns it); on failure, a proof the checker rejects. Every completion has the
same whitespace-token count (padded with a comment), so both arms of
``lemmaflow prove`` spend equal completion tokens per attempt.

Theory (one attempt per problem, problems in order, evolver off, the library
shows every verified lemma, i.e. ``retrieve_k >= K``): for a key lemma whose
problems come at positions ``t = 1..n`` of the run, the library holds it before
problem ``t`` with probability ``1 - (1 - p_hidden)^(t-1)`` (some earlier
problem of the group succeeded without it), so

    E[library solved - baseline solved] = sum_groups sum_t (1 - (1 - p_hidden)^(t-1)) * (p_shown - p_hidden).

Because both arms share the draw ``u``, the per-problem difference is
``1[p_hidden <= u < p_shown]`` once the lemma is in the library and 0 before;
:meth:`SimulatedProofModel.predicted_gain` computes mean and variance exactly
(dynamic programming over the first-success time). ``p_shown == p_hidden`` is
the case of arXiv 2504.03048 (the library changes nothing at equal compute):
the predicted gain is 0, and so must the measured one be.

Example::

    >>> sim = SimulatedProofModel.coq_suite(lemmas=2, per_lemma=3, p_shown=0.9, p_hidden=0.3)
    >>> [p.name for p in sim.problems][:3]
    ['sim_p0', 'sim_p1', 'sim_p2']
    >>> mean, var = sim.predicted_gain()
    >>> round(mean, 4)
    0.972
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from .fake import ScriptedLM

__all__ = ["SimLemma", "SimProblem", "SimulatedProofModel"]


@dataclass(frozen=True)
class SimLemma:
    name: str
    statement: str  # as the library stores it (the checker's statement)
    source: str  # statement and a correct proof


@dataclass(frozen=True)
class SimProblem:
    name: str
    statement: str
    header: str
    key: SimLemma
    with_lemma: str  # a full proof text that uses the key lemma by name
    wrong: str  # a full proof text the checker rejects
    split: str = "sim"
    path: str = ""  # CoqProblem-compatible


@dataclass
class SimulatedProofModel:
    problems: list[SimProblem]
    p_shown: float
    p_hidden: float
    language: str = "coq"
    seed: str = "lemmaflow-sim-prover"
    tokens: int = 96  # whitespace tokens of every completion
    calls: list[tuple[str, bool, bool]] = field(default_factory=list)  # (problem, shown, success)

    def __post_init__(self) -> None:
        if not (0 <= self.p_hidden <= 1 and 0 <= self.p_shown <= 1):
            raise ValueError("probabilities must be in [0, 1]")
        self._by_name = {p.name: p for p in self.problems}

    # -- suites ----------------------------------------------------------------
    @classmethod
    def coq_suite(cls, lemmas: int, per_lemma: int, p_shown: float, p_hidden: float, **kw) -> "SimulatedProofModel":
        """``lemmas * per_lemma`` Coq problems over nat (each checks in milliseconds), interleaved by key lemma."""
        keys = []
        for j in range(lemmas):
            k = j + 2
            st = f"Lemma sim_key{j} (n : nat) : n + {k} = {k} + n."
            keys.append(SimLemma(f"sim_key{j}", st, f"{st}\nProof. apply Nat.add_comm. Qed."))
        problems = []
        for i in range(lemmas * per_lemma):
            key, k = keys[i % lemmas], i % lemmas + 2
            st = f"Theorem sim_p{i} (m : nat) : (m + {k}) * {i + 1} = ({k} + m) * {i + 1}."
            problems.append(SimProblem(
                name=f"sim_p{i}", statement=st, header="Require Import Arith.\n", key=key,
                with_lemma=f"{st}\nProof. rewrite {key.name}. reflexivity. Qed.",
                wrong=f"{st}\nProof. reflexivity. Qed."))  # (m + k) * c does not compute: rejected
        return cls(problems, p_shown, p_hidden, language="coq", **kw)

    @classmethod
    def lean_suite(cls, lemmas: int, per_lemma: int, p_shown: float, p_hidden: float, **kw) -> "SimulatedProofModel":
        """The same suite in Lean 4 (``theorem ... := by``), for a Lean REPL (or its double)."""
        keys = []
        for j in range(lemmas):
            k = j + 2
            st = f"theorem sim_key{j} (n : ℕ) : n + {k} = {k} + n"
            keys.append(SimLemma(f"sim_key{j}", st, f"{st} := by\n  omega"))
        problems = []
        for i in range(lemmas * per_lemma):
            key, k = keys[i % lemmas], i % lemmas + 2
            st = f"theorem sim_p{i} (m : ℕ) : m + {k} = {k} + m := by\n"  # `apply key` closes it (unifies n)
            problems.append(SimProblem(
                name=f"sim_p{i}", statement=st, header="import Mathlib\n", key=key,
                with_lemma=f"{st}  apply {key.name}", wrong=f"{st}  exact sim_missing_{i}"))
        return cls(problems, p_shown, p_hidden, language="lean4", **kw)

    # -- the model ---------------------------------------------------------------
    def draw(self, problem: str) -> float:
        """The problem's uniform draw in [0, 1) (a seeded hash: reproducible, the same in both arms)."""
        h = hashlib.sha256(f"{self.seed}|{problem}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2 ** 64

    def _pad(self, code: str) -> str:
        fence = "coq" if self.language == "coq" else "lean4"
        n = self.tokens - len(code.split()) - 4  # fence open, comment open/close, fence close
        if n < 0:
            raise ValueError(f"tokens={self.tokens} is too small for {code[:40]!r}")
        pad = " ".join(["pad"] * n)
        comment = f"(* {pad} *)" if self.language == "coq" else f"/- {pad} -/"
        return f"```{fence}\n{code}\n{comment}\n```"

    def answer(self, prompt: str, i: int = 0) -> str:
        """The completion for a prompt (LEGO's formal prompt; other prompts get a padded non-answer)."""
        if "Theorem to prove:" not in prompt:
            return self._pad("sketch")
        head, _, tail = prompt.partition("Theorem to prove:")
        m = re.search(r"(?:Theorem|theorem)\s+(\S+)", tail)
        problem = self._by_name.get(m.group(1) if m else "")
        if problem is None:
            return self._pad("unknown")
        shown = "Verified lemmas" in head and re.search(rf"\b{re.escape(problem.key.name)}\b", head) is not None
        # one draw per problem, whichever arm asks (the prompt does not say which attempt it is: the theory
        # is for one attempt per problem)
        success = self.draw(problem.name) < (self.p_shown if shown else self.p_hidden)
        self.calls.append((problem.name, shown, success))
        if not success:
            return self._pad(problem.wrong)
        if shown:
            return self._pad(problem.with_lemma)
        return self._pad(problem.key.source + "\n" + problem.with_lemma)

    def backend(self, model_id: str = "simulated-prover") -> ScriptedLM:
        return ScriptedLM(self.answer, model_id=model_id)

    # -- theory ------------------------------------------------------------------
    def groups(self) -> list[list[int]]:
        """Positions (in problem order) of the problems of each key lemma."""
        by_key: dict[str, list[int]] = {}
        for t, p in enumerate(self.problems):
            by_key.setdefault(p.key.name, []).append(t)
        return list(by_key.values())

    def predicted_gain(self) -> tuple[float, float]:
        """Mean and variance of (library solved - baseline solved), one attempt per problem (module docstring)."""
        q0, q1 = self.p_hidden, self.p_shown
        d = q1 - q0
        mean = var = 0.0
        for group in self.groups():
            n = len(group)
            # first success time tau (1-based) among the group's problems: P(tau = s) = (1-q0)^(s-1) q0;
            # the gain is a Binomial(n - tau, d) given tau (n - tau problems come after it); tau > n: gain 0
            m1 = m2 = 0.0
            for s in range(1, n + 1):
                ps = (1 - q0) ** (s - 1) * q0
                k = n - s
                m1 += ps * k * d
                m2 += ps * (k * d * (1 - d) + (k * d) ** 2)
            mean += m1
            var += m2 - m1 ** 2
        return mean, var
