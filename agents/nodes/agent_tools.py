"""Tools for plan-and-act nodes (ReWOO, ReAct): a small registry, passed explicitly.

A tool turns one text input into a :class:`ToolResult` without any LLM call; a
failure (bad input, code error, timeout, missing service) is a result with
``ok=False`` and the error in ``text``, never an exception in the caller.

- ``python``: the input is Python code, run as one sandbox job (``ctx.executor``);
  the result is what a model would see (stdout, last expression, trimmed traceback).
- ``sympy``: ``solve(...)``, ``simplify(...)``, ``factor(...)``, ... or a plain
  expression to evaluate (``a = b`` means ``solve(Eq(a, b))``). The input is
  checked against an AST allow-list here (numbers, names, arithmetic, calls to
  allowed sympy functions only), then parsed by sympy inside the sandbox, so a
  hanging ``simplify`` is cut off by the job's timeout.
- ``retrieve``: hybrid search of the skill library (``ctx.store``), the top
  entries' names, statements, docstrings and sources.

Example::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.agents.nodes.agent_tools import default_tools
    from lemmaflow.sandboxes import make_executor

    with make_executor("forkserver", pool_size=1) as ex:
        ctx = RunContext(backend=ScriptedLM(["unused"]), executor=ex)
        tools = default_tools().available(ctx)          # retrieve needs ctx.store: dropped here
        r = asyncio.run(tools.get("sympy")("solve(x**2 - 4, x)", ctx))
    assert r.ok and r.text == "[-2, 2]" and tools.names() == ["python", "sympy"]
"""

from __future__ import annotations

import ast
import re
import time
from typing import Literal, Protocol, Sequence, runtime_checkable

from pydantic import BaseModel

from ...tools.interpreter import format_output

__all__ = [
    "PythonTool",
    "RetrieveTool",
    "SympyTool",
    "SympyInputError",
    "Tool",
    "ToolName",
    "ToolRegistry",
    "ToolResult",
    "check_sympy_input",
    "default_tools",
]

ToolName = Literal["python", "sympy", "retrieve"]


class ToolResult(BaseModel):
    text: str  # what the model sees as evidence / observation
    ok: bool
    duration_s: float = 0.0


@runtime_checkable
class Tool(Protocol):
    name: str
    description: str  # one line for the prompt: what the input is and what comes back
    python_input: bool  # the input is Python code (plan parsing treats its strings/comments)

    def usable(self, ctx) -> bool: ...

    async def __call__(self, arg: str, ctx) -> ToolResult: ...


class PythonTool:
    name = "python"
    description = "Python code run in a sandbox (sympy, numpy, math available); returns what it prints."
    python_input = True

    def __init__(self, timeout_s: float = 10.0, max_chars: int = 800):
        self.timeout_s, self.max_chars = timeout_s, max_chars

    def usable(self, ctx) -> bool:
        return ctx.executor is not None

    async def __call__(self, arg: str, ctx) -> ToolResult:
        from ...sandboxes import Job

        if ctx.executor is None:
            return ToolResult(text="Error: no sandbox executor in this run", ok=False)
        res = await ctx.executor.arun(Job(code=arg, timeout_s=self.timeout_s))
        text = format_output(res, max_chars=self.max_chars)
        if res.ok and not text.strip():
            text = "(no output: print the result)"
        return ToolResult(text=text if res.ok else f"Error: {text}", ok=res.ok, duration_s=res.duration_s)


SYMPY_FUNCTIONS = (
    "solve", "simplify", "expand", "factor", "N", "Eq", "Rational", "sqrt", "root", "exp", "log", "sin", "cos",
    "tan", "Abs", "floor", "ceiling", "gcd", "lcm", "factorial", "binomial", "diff", "integrate", "limit",
    "nsimplify", "Min", "Max", "isprime", "divisors", "factorint", "cancel", "together", "apart", "summation",
)
SYMPY_CONSTANTS = ("pi", "E", "I", "oo")
_ALLOWED_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load, ast.Call, ast.Tuple,
                  ast.List, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.FloorDiv, ast.USub, ast.UAdd)


class SympyInputError(ValueError):
    """A sympy tool input outside the allow-list (the message says what)."""


def _parses(src: str) -> bool:
    try:
        ast.parse(src.strip(), mode="eval")
        return True
    except SyntaxError:
        return False


def check_sympy_input(text: str, max_chars: int = 500) -> str:
    """The expression sympy will parse (``^`` → ``**``, ``a = b`` → ``solve(Eq(a, b))``), or SympyInputError."""
    src = text.strip().replace("^", "**")
    if not src:
        raise SympyInputError("empty input")
    if len(src) > max_chars:
        raise SympyInputError(f"input longer than {max_chars} characters")
    eq = re.fullmatch(r"([^=<>!]+)=([^=]+)", src)
    if eq and all(_parses(side) for side in eq.groups()):
        src = f"solve(Eq({eq.group(1).strip()}, {eq.group(2).strip()}))"
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        raise SympyInputError(f"not an expression: {e.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise SympyInputError(f"{type(node).__name__} is not allowed (only arithmetic and sympy function calls)")
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, (int, float))):
            raise SympyInputError(f"only numbers are allowed as literals, not {node.value!r}")
        if isinstance(node, ast.Name) and (node.id.startswith("_") or len(node.id) > 30):
            raise SympyInputError(f"name {node.id!r} is not allowed")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in SYMPY_FUNCTIONS:
                what = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise SympyInputError(f"function {what!r} is not allowed; allowed: {', '.join(SYMPY_FUNCTIONS)}")
            if node.keywords:
                raise SympyInputError("keyword arguments are not allowed")
    return src


_SYMPY_JOB = """
import sympy as _sp
from sympy.parsing.sympy_parser import parse_expr as _parse, standard_transformations as _std
_names = {{n: getattr(_sp, n) for n in {functions!r} + {constants!r}}}
_r = _parse({src!r}, local_dict=_names, transformations=_std, evaluate=True)
if isinstance(_r, _sp.Basic) and _r.has(_sp.zoo, _sp.nan, _sp.oo, -_sp.oo) and not _r.free_symbols:
    raise ArithmeticError(f"the result is undefined or infinite ({{_r}})")
if isinstance(_r, _sp.Basic) and not isinstance(_r, (_sp.Equality, _sp.Rel)) and _r.is_number:
    _r = _sp.simplify(_r)
    if _r.is_Rational and not _r.is_Integer:
        print(f"{{_r}} (= {{float(_r):.12g}})")
    elif _r.is_Float:
        print(f"{{float(_r):.12g}}")
    else:
        print(_r)
elif isinstance(_r, _sp.Basic):
    print(_sp.simplify(_r) if not _r.free_symbols or _r.count_ops() < 200 else _r)
else:
    print(_r)
"""


class SympyTool:
    name = "sympy"
    description = ("a sympy expression: solve(x**2 - 4, x), simplify(...), factor(...), or arithmetic to evaluate "
                   "exactly, e.g. 3*12 - 5 or 2*x + 1 = 7.")
    python_input = False

    def __init__(self, timeout_s: float = 10.0):
        self.timeout_s = timeout_s

    def usable(self, ctx) -> bool:
        return ctx.executor is not None

    async def __call__(self, arg: str, ctx) -> ToolResult:
        from ...sandboxes import Job

        try:
            src = check_sympy_input(arg)
        except SympyInputError as e:
            return ToolResult(text=f"Error: sympy input rejected: {e}", ok=False)
        if ctx.executor is None:
            return ToolResult(text="Error: no sandbox executor in this run", ok=False)
        code = _SYMPY_JOB.format(src=src, functions=SYMPY_FUNCTIONS, constants=SYMPY_CONSTANTS)
        res = await ctx.executor.arun(Job(code=code, timeout_s=self.timeout_s))
        text = format_output(res, max_chars=800)
        if not res.ok:
            last = [ln for ln in text.splitlines() if ln.strip()][-1:] or ["failed"]
            return ToolResult(text=f"Error: {last[0]}", ok=False, duration_s=res.duration_s)
        return ToolResult(text=text.strip(), ok=True, duration_s=res.duration_s)


class RetrieveTool:
    name = "retrieve"
    description = "a search query for the skill library of proved lemmas and tested tools; returns the best matches."
    python_input = False

    def __init__(self, k: int = 3, max_chars: int = 1200):
        self.k, self.max_chars = k, max_chars

    def usable(self, ctx) -> bool:
        return ctx.store is not None

    async def __call__(self, arg: str, ctx) -> ToolResult:
        import asyncio

        if ctx.store is None:
            return ToolResult(text="Error: no skill library in this run", ok=False)
        t0 = time.monotonic()
        try:
            hits = await asyncio.to_thread(ctx.store.search, arg, self.k, status=["verified", "pending"],
                                           run_id=ctx.run_id, problem_id=ctx.problem_id)
        except Exception as e:  # a store error is evidence, not a crash
            return ToolResult(text=f"Error: library search failed: {type(e).__name__}: {e}", ok=False)
        if not hits:
            return ToolResult(text="(no matching entries)", ok=True, duration_s=time.monotonic() - t0)
        parts = []
        for h in hits:
            e = h.entry
            parts.append("\n".join(x for x in (f"{e.name} ({e.kind}, {e.language}): {e.statement}", e.docstring,
                                               e.source.strip()) if x))
        text = "\n\n".join(parts)
        if len(text) > self.max_chars:
            text = text[: self.max_chars - 15] + "\n[...truncated]"
        return ToolResult(text=text, ok=True, duration_s=time.monotonic() - t0)


class ToolRegistry:
    """Tools by name (case-insensitive lookup); the prompt's tool list comes from here."""

    def __init__(self, tools: Sequence[Tool]):
        self._tools = {t.name.lower(): t for t in tools}

    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name.lower()]
        except KeyError:
            raise KeyError(f"unknown tool {name!r}; available: {', '.join(self._tools)}") from None

    def python_tools(self) -> list[str]:
        return [n for n, t in self._tools.items() if t.python_input]

    def available(self, ctx) -> "ToolRegistry":
        """The tools whose services this run has (``retrieve`` needs a store, code tools an executor)."""
        return ToolRegistry([t for t in self._tools.values() if t.usable(ctx)])

    def describe(self) -> str:
        """One line per tool, ``Name[input]: description``, for prompts."""
        return "\n".join(f"{n.capitalize()}[input]: {t.description}" for n, t in self._tools.items())

    def __len__(self) -> int:
        return len(self._tools)


def default_tools(names: Sequence[ToolName] = ("python", "sympy", "retrieve"), timeout_s: float = 10.0,
                  retrieve_k: int = 3) -> ToolRegistry:
    """The built-in tools named in ``names``."""
    make = {"python": lambda: PythonTool(timeout_s), "sympy": lambda: SympyTool(timeout_s),
            "retrieve": lambda: RetrieveTool(retrieve_k)}
    return ToolRegistry([make[n]() for n in names])
