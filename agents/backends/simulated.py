r"""A simulated step-by-step reasoner with known accuracy, for statistical tests of search.

Not a language model and never a result: a :class:`ScriptedLM` whose "solutions"
are ``steps`` reasoning steps followed by an answer step. Each reasoning step
is right with probability ``step_accuracy``, drawn from a seeded RNG keyed by
(prompt, sample index), so runs are reproducible; the answer step says
``\boxed{correct}`` exactly when no step slipped. So a full chain is right
with probability ``step_accuracy ** steps``, and theory for any search is a
closed formula. Steps are separated by a blank line (the step delimiter), and
every step has a fixed whitespace-token cost (``Step k: ok.`` / ``Step k: slip.``
cost 3, the answer step 2), so token budgets are exact.

:meth:`SimulatedReasoner.step_scores` is a matching process reward model:
``noise=0`` is a perfect one (1.0 while no step has slipped, else 0.0); with
``noise > 0`` each score is ``hi``/``lo`` plus Gaussian noise (seeded by the
steps), an informative but imperfect PRM.

Example::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import SamplingParams
    from lemmaflow.agents.backends.simulated import SimulatedReasoner

    sim = SimulatedReasoner(steps=2, step_accuracy=1.0)
    lm = sim.backend()
    gen = asyncio.run(lm.generate(["Q1"], SamplingParams(stop=["\n\n"])))[0]
    assert gen.completions[0].text == "Step 1: ok."
    assert sim.step_scores("Q1", ["Step 1: ok.", "Step 2: slip."]) == [1.0, 0.0]
"""

from __future__ import annotations

import random
from typing import Sequence

from .fake import ScriptedLM

__all__ = ["SimulatedReasoner"]


class SimulatedReasoner:
    def __init__(self, steps: int = 4, step_accuracy: float = 0.7, correct: str = "42", wrong: Sequence[str] = ("41", "43"),
                 seed: str = "lemmaflow-sim", noise: float = 0.0, hi: float = 0.75, lo: float = 0.35):
        if not 0 <= step_accuracy <= 1 or steps < 1:
            raise ValueError("need steps >= 1 and 0 <= step_accuracy <= 1")
        self.steps, self.p, self.correct, self.wrong, self.seed = steps, step_accuracy, correct, tuple(wrong), seed
        self.noise, self.hi, self.lo = noise, hi, lo

    @staticmethod
    def written(prompt: str) -> list[str]:
        """The steps already in a prompt's assistant prefix (text after the last ``<assistant>``)."""
        tail = prompt.rsplit("<assistant>", 1)[-1]
        return [s for s in (x.strip() for x in tail.split("\n\n")) if s.startswith("Step ")]

    def next_step(self, prompt: str, i: int) -> str:
        """The sampled continuation: one step and the delimiter, or the answer step."""
        done = self.written(prompt)
        rng = random.Random(f"{self.seed}|{prompt}|{i}")
        if len(done) >= self.steps:
            ok = not any(s.endswith("slip.") for s in done)
            return f"So \\boxed{{{self.correct if ok else rng.choice(self.wrong)}}}"
        return f"Step {len(done) + 1}: {'ok' if rng.random() < self.p else 'slip'}.\n\n"

    def backend(self, model_id: str = "simulated-reasoner") -> ScriptedLM:
        return ScriptedLM(lambda prompt, i: self.next_step(prompt, i), model_id=model_id)

    def step_scores(self, question: str, steps: Sequence[str]) -> list[float]:
        """One score per step: does the solution still hold up after this step (noisy when ``noise > 0``)."""
        out, slipped = [], False
        for k, s in enumerate(steps):
            slipped = slipped or s.endswith("slip.") or ("boxed" in s and f"{{{self.correct}}}" not in s)
            if self.noise == 0:
                out.append(0.0 if slipped else 1.0)
                continue
            rng = random.Random(f"{self.seed}|prm|{question}|{k}|{'/'.join(steps[:k + 1])}")
            x = (self.lo if slipped else self.hi) + rng.gauss(0.0, self.noise)
            out.append(min(0.999, max(0.001, x)))
        return out

    def chain_accuracy(self) -> float:
        return self.p ** self.steps
