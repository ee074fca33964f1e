"""The ReWOO plan language (arXiv 2305.18323): a strict parser with typed, line-numbered errors.

A plan alternates ``Plan:`` lines (what to do) and evidence steps (which tool to
call, with which input). A step's input may use the evidence of earlier steps by
name (``#E1``); the worker substitutes it before running the tool::

    Plan: Count all the pencils.
    #E1 = Python[print(3 * 12)]
    Plan: Take away the 5 that were given away.
    #E2 = Sympy[#E1 - 5]

Grammar (one item per line; blank lines are ignored; nothing else is allowed)::

    plan   := (PLAN STEP)+
    PLAN   := "Plan:" text                     (non-empty, one line)
    STEP   := "#E" n "=" TOOL "[" input "]"    (n = 1, 2, 3, ... in order; TOOL a known tool)
    input  := text with balanced [ ]           (may span lines; inside Python input,
                                                brackets in string literals and comments do not count)

References ``#Ek`` in an input must name an earlier step. This is a hand-written
tokenizer rather than a lark grammar because a tool input is free text with
balanced brackets whose meaning (string literals, comments) depends on the tool.

Example::

    from lemmaflow.agents.nodes.rewoo_plan import PlanError, parse_plan

    plan = parse_plan("Plan: add\\n#E1 = Sympy[2 + 3]\\nPlan: double\\n#E2 = Python[print(2 * #E1)]",
                      tools=["python", "sympy"])
    assert [s.tool for s in plan.steps] == ["sympy", "python"] and plan.steps[1].deps == (1,)
    try:
        parse_plan("Plan: x\\n#E1 = Google[y]", tools=["python"])
    except PlanError as e:
        assert e.line == 2 and "unknown tool 'Google'" in str(e)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

__all__ = [
    "EmptyPlanError",
    "EvidenceReferenceError",
    "Plan",
    "PlanError",
    "PlanStep",
    "PlanSyntaxError",
    "UnknownToolError",
    "parse_plan",
    "references",
    "scan_bracketed",
]

_PLAN = re.compile(r"[ \t]*Plan[ \t]*:[ \t]*(.*)", re.IGNORECASE)
_STEP = re.compile(r"[ \t]*#E(\d+)[ \t]*=[ \t]*([A-Za-z_][\w]*)[ \t]*\[")
_REF = re.compile(r"#E(\d+)")


class PlanError(ValueError):
    """A plan that does not follow the grammar. ``line`` is 1-based (0: the plan as a whole)."""

    def __init__(self, line: int, message: str):
        self.line, self.message = line, message
        super().__init__(f"line {line}: {message}" if line else message)


class PlanSyntaxError(PlanError):
    """A line that is neither ``Plan: ...`` nor ``#En = Tool[input]``, or a bad step."""


class UnknownToolError(PlanError):
    """A step calls a tool that is not in the registry."""


class EvidenceReferenceError(PlanError):
    """A step uses ``#Ek`` that no earlier step defines."""


class EmptyPlanError(PlanError):
    """No steps at all."""


@dataclass(frozen=True)
class PlanStep:
    index: int  # n of #En, 1-based
    plan: str  # the Plan: line's text
    tool: str  # canonical (registry) name
    input: str  # raw input, #Ek references not yet substituted
    line: int  # line of the step
    deps: tuple[int, ...] = ()  # the k of every #Ek used in the input, sorted

    @property
    def var(self) -> str:
        return f"#E{self.index}"


@dataclass(frozen=True)
class Plan:
    steps: tuple[PlanStep, ...]
    tool_names: dict[str, str] = field(default_factory=dict, compare=False)  # canonical -> as written

    def render(self) -> str:
        """The plan in canonical form (what the model should have written)."""
        out = []
        for s in self.steps:
            out += [f"Plan: {s.plan}", f"{s.var} = {self.tool_names.get(s.tool, s.tool)}[{s.input}]"]
        return "\n".join(out)

    def levels(self) -> list[list[PlanStep]]:
        """Steps grouped so that each group only depends on earlier groups (they may run concurrently)."""
        depth: dict[int, int] = {}
        for s in self.steps:
            depth[s.index] = 1 + max((depth[d] for d in s.deps), default=-1)
        out: list[list[PlanStep]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for s in self.steps:
            out[depth[s.index]].append(s)
        return out


def references(text: str) -> list[int]:
    """The k of every ``#Ek`` in ``text``, in order of appearance."""
    return [int(m.group(1)) for m in _REF.finditer(text)]


def scan_bracketed(text: str, start: int, python: bool = False) -> int | None:
    """Index of the ``]`` closing the ``[`` just before ``start``; None if it never closes.

    With ``python``, brackets inside string literals and ``#`` comments are ignored
    (``#E1`` references are not comments).
    """
    depth, i, n = 1, start, len(text)
    while i < n:
        ch = text[i]
        if python and ch in "'\"":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else ch
            j = i + len(quote)
            while j < n and not text.startswith(quote, j):
                if text[j] == "\\":
                    j += 1
                elif text[j] == "\n" and len(quote) == 1:
                    break  # unterminated one-line string: let the interpreter complain
                j += 1
            i = j + len(quote) if text.startswith(quote, j) else j
            continue
        if python and ch == "#" and not _REF.match(text, i):
            nl = text.find("\n", i)
            i = n if nl == -1 else nl
            continue
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def parse_plan(text: str, tools: Iterable[str], python_tools: Iterable[str] = ("python",)) -> Plan:
    """Parse ``text`` strictly; raise a :class:`PlanError` subclass naming the line on any deviation.

    ``tools`` are the registry's names (matched case-insensitively); ``python_tools``
    those whose input is Python code (string-aware bracket matching).
    """
    canonical = {t.lower(): t for t in tools}
    py = {t.lower() for t in python_tools}
    steps: list[PlanStep] = []
    written: dict[str, str] = {}
    pending: tuple[int, str] | None = None  # (line, text) of a Plan: waiting for its step
    pos, n = 0, len(text)
    while pos < n:
        eol = text.find("\n", pos)
        eol = n if eol == -1 else eol
        line_text = text[pos:eol]
        line_no = _line_of(text, pos)
        if not line_text.strip():
            pos = eol + 1
            continue
        m_plan = _PLAN.fullmatch(line_text)
        if m_plan:
            desc = m_plan.group(1).strip()
            if not desc:
                raise PlanSyntaxError(line_no, "'Plan:' needs a description of the step")
            if pending is not None:
                raise PlanSyntaxError(
                    line_no, f"a second 'Plan:' before the step of the 'Plan:' on line {pending[0]}; "
                    f"write '#E{len(steps) + 1} = Tool[input]' after each 'Plan:'")
            pending = (line_no, desc)
            pos = eol + 1
            continue
        m_step = _STEP.match(text, pos)
        if m_step and m_step.start() == pos:
            k, tool = int(m_step.group(1)), m_step.group(2)
            if pending is None:
                raise PlanSyntaxError(line_no, f"step #E{k} has no 'Plan:' line before it")
            if k != len(steps) + 1:
                raise PlanSyntaxError(line_no, f"expected #E{len(steps) + 1}, got #E{k} (number the steps 1, 2, 3, ...)")
            if tool.lower() not in canonical:
                raise UnknownToolError(line_no, f"unknown tool {tool!r}; available: {', '.join(canonical.values())}")
            name = canonical[tool.lower()]
            close = scan_bracketed(text, m_step.end(), python=tool.lower() in py)
            if close is None:
                raise PlanSyntaxError(line_no, f"the '[' of #E{k} = {tool}[...] is never closed with ']'")
            body = text[m_step.end():close].strip()
            if not body:
                raise PlanSyntaxError(line_no, f"#E{k} = {tool}[] has an empty input")
            rest_end = text.find("\n", close)
            rest_end = n if rest_end == -1 else rest_end
            if text[close + 1:rest_end].strip():
                raise PlanSyntaxError(_line_of(text, close),
                                      f"unexpected text after the ']' closing #E{k}: {text[close + 1:rest_end].strip()!r}")
            refs = references(body)
            bad = sorted({r for r in refs if r >= k or r < 1})
            if bad:
                raise EvidenceReferenceError(
                    line_no, f"#E{k} uses {', '.join(f'#E{b}' for b in bad)}, which no earlier step defines")
            steps.append(PlanStep(index=k, plan=pending[1], tool=name, input=body, line=line_no, deps=tuple(sorted(set(refs)))))
            written[name] = tool
            pending = None
            pos = rest_end + 1
            continue
        shown = line_text.strip()
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise PlanSyntaxError(line_no, f"expected 'Plan: ...' or '#E{len(steps) + 1} = Tool[input]', got {shown!r}")
    if pending is not None:
        raise PlanSyntaxError(pending[0], f"'Plan:' without a step after it (expected '#E{len(steps) + 1} = Tool[input]')")
    if not steps:
        raise EmptyPlanError(0, "the plan has no steps ('Plan: ...' followed by '#E1 = Tool[input]')")
    return Plan(steps=tuple(steps), tool_names=written)
