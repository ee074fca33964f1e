r"""Math-step search problem: states are partial solutions, actions are next steps.

A state is the list of steps written so far (steps separated by ``delimiter``,
a blank line by default, as PRMs such as Qwen2.5-Math-PRM expect). Proposing
asks the generator to continue the assistant's own message
(``ChatPrompt.continued``) with ``stop=[delimiter]``, so it writes exactly one
more step, and every state's prompt shares the question's prefix (vLLM's prefix
cache serves it once). All states of a round go out in ONE ``ctx.generate``
call with ``n`` samples each. A step ends the solution when the model stops on
its own (end of sequence, not the delimiter) or writes a ``\boxed{}`` answer;
``max_steps`` bounds the depth.

Values come from any scorer (:mod:`lemmaflow.agents.scorers`: a PRM via
``{type: reward_model, model: prm}``, the step verifier, an LLM judge), or from
a user hook ``value_fn(question, steps) -> float``. ``rollout`` finishes a
state in one generation (no step stop), for MCTS rollouts.

Example::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.search import BeamSearch, MathStepProblem

    steps = {0: "3 + 4 = 7\n\n", 1: "7 * 2 = 14\n\n", 2: "So \\boxed{14}."}
    lm = ScriptedLM(lambda prompt, i: steps[prompt.count("=")])   # step k sees k equations
    problem = MathStepProblem("What is (3+4)*2?", value_fn=lambda q, s: 1.0)
    res = asyncio.run(BeamSearch(beam_size=1, width=1).search(problem, RunContext(backend=lm)))
    assert res.best.answer == "14" and res.rounds == 3
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...tools.answers import extract_answer
from ...tools.steps import DEFAULT_DELIMITER, join_steps, split_steps
from ..backends.base import ChatPrompt, Prompt, SamplingParams
from ..scorers import Scorer, StepScoreRequest
from .base import Proposal, SearchProblem

__all__ = ["MATH_STEP_PROMPT", "MathState", "MathStep", "MathStepConfig", "MathStepProblem"]

MATH_STEP_SYSTEM = "You are a careful mathematician. Reason step by step."
MATH_STEP_PROMPT = (
    "Solve the following problem step by step. Separate the steps with a blank line. "
    "Put the final answer in \\boxed{{}}.\n\nProblem: {question}"
)

ValueFn = Callable[[str, Sequence[str]], float]


@dataclass(frozen=True)
class MathState:
    steps: tuple[str, ...] = ()
    done: bool = False


@dataclass(frozen=True)
class MathStep:
    text: str
    final: bool = False


class MathStepConfig(BaseModel):
    """How steps are generated (shared by every search node's config)."""

    model_config = ConfigDict(extra="forbid")
    prompt: str = MATH_STEP_PROMPT
    system: str | None = MATH_STEP_SYSTEM
    chat: bool = True
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(256, ge=1, description="max tokens of one step")
    max_steps: int = Field(12, ge=1, description="a solution this many steps long is finished")
    delimiter: str = Field(DEFAULT_DELIMITER, min_length=1)
    rollout_max_tokens: int = Field(512, ge=1, description="max tokens to finish a solution (MCTS rollouts)")
    logprobs: bool = False  # ask for token log-probs (MCTS prior: logprob)

    @model_validator(mode="after")
    def _check_prompt(self):
        if "{question}" not in self.prompt:
            raise ValueError("prompt must contain {question}")
        return self


class MathStepProblem(SearchProblem[MathState, MathStep]):
    """Step-by-step solutions of one math question, valued by a scorer or a hook."""

    def __init__(self, question: str, config: MathStepConfig | dict | None = None, *,
                 scorer: Scorer | None = None, value_fn: ValueFn | None = None):
        if scorer is None and value_fn is None:
            raise ValueError("MathStepProblem needs a scorer or a value_fn to value partial solutions")
        self.question = question
        self.config = config if isinstance(config, MathStepConfig) else MathStepConfig(**(config or {}))
        self.scorer, self.value_fn = scorer, value_fn
        self.max_depth = self.config.max_steps
        from ..nodes.prompts import build_prompt  # lazily: agents.nodes imports this package

        self._base: Prompt = build_prompt(self.config.prompt, question, self.config.system, self.config.chat)

    def prompt_for(self, state: MathState) -> Prompt:
        if not state.steps:
            return self._base
        done = join_steps(list(state.steps), self.config.delimiter) + self.config.delimiter
        if isinstance(self._base, ChatPrompt):
            return self._base.continued(done)
        return self._base + done

    def initial_state(self) -> MathState:
        return MathState()

    def _params(self, n: int, stop: bool, max_tokens: int) -> SamplingParams:
        c = self.config
        return SamplingParams(n=n, temperature=c.temperature, top_p=c.top_p, max_tokens=max_tokens,
                              stop=(c.delimiter,) if stop else (), logprobs=0 if c.logprobs else None)

    async def propose(self, ctx, states: Sequence[MathState], n: int) -> list[list[Proposal[MathStep]]]:
        gens = await ctx.generate([self.prompt_for(s) for s in states],
                                  self._params(n, True, self.config.max_tokens))
        out = []
        for g in gens:
            props = []
            for comp in g.completions:
                ended = comp.finish_reason == "stop" and comp.stop_reason is None  # EOS, not the delimiter
                final = ended or "\\boxed" in comp.text
                props.append(Proposal(action=MathStep(comp.text, final), tokens=comp.completion_tokens,
                                      logprob=comp.mean_logprob))
            out.append(props)
        return out

    def apply(self, state: MathState, action: MathStep) -> MathState:
        new = tuple(split_steps(action.text, self.config.delimiter))
        return MathState(steps=state.steps + new, done=action.final)

    def is_terminal(self, state: MathState) -> bool:
        return state.done

    def answer(self, state: MathState) -> str | None:
        return extract_answer(join_steps(list(state.steps), self.config.delimiter)).answer if state.steps else None

    def solution(self, state: MathState) -> str:
        return join_steps(list(state.steps), self.config.delimiter)

    def describe(self, action: MathStep) -> str:
        return action.text.strip()

    async def evaluate(self, ctx, states: Sequence[MathState]) -> list[float]:
        values = [0.5] * len(states)  # no step yet: no information
        todo = [i for i, s in enumerate(states) if s.steps]
        if not todo:
            return values
        if self.value_fn is not None:
            for i in todo:
                values[i] = float(self.value_fn(self.question, states[i].steps))
            return values
        requests = [StepScoreRequest(question=self.question, steps=states[i].steps) for i in todo]
        scores = await self.scorer.score(ctx.child("scorer"), requests)
        for i, s in zip(todo, scores):
            values[i] = float(s.value)
        return values

    async def rollout(self, ctx, states: Sequence[MathState]) -> list[tuple[MathState, int]]:
        """Each unfinished state completed in one generation (no step stop)."""
        out: list[Any] = [(s, 0) for s in states]
        live = [i for i, s in enumerate(states) if not s.done]
        if not live:
            return out
        gens = await ctx.generate([self.prompt_for(states[i]) for i in live],
                                  self._params(1, False, self.config.rollout_max_tokens))
        for i, g in zip(live, gens):
            comp = g.completions[0]
            steps = states[i].steps + tuple(split_steps(comp.text, self.config.delimiter))
            out[i] = (MathState(steps=steps, done=True), comp.completion_tokens)
        return out
