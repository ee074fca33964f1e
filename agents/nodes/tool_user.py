"""Tool use (CRAFT, arXiv 2309.17428; GENOME, arXiv 2311.04901): retrieve stored tools, call them from code.

For a new problem the node retrieves the top-``k`` verified tools from the skill library
(hybrid search on the question; recorded as ``retrieved``), shows their signatures and
docstrings to the model (``shown``), and asks for a program that may ``from lemmaflow_tools
import ...`` them. The tools are shipped into the sandbox job as a generated module
``lemmaflow_tools.py`` in ``Job.files`` (every sandbox backend puts the job's work dir on
``sys.path``), so a tool never runs outside a sandbox. The module is instrumented: each tool's
first call, and its first exception, are reported on stderr under a per-job nonce. Then:

- tools that were actually called by a program that ran to the end and printed an answer (an
  accepted answer) are recorded as ``used`` (``lemmaflow library stats`` joins them with the
  problems the batch graded as solved);
- a tool that raised is a use-time failure: ``store.record_failure`` counts it and demotes the
  tool after ``demote_after`` failures (a call that does not fit the signature is the caller's
  mistake, reported as ``misused``, not counted);
- a tool whose source fails to load is a failure too.

The answer is the program's last printed line (or its last expression's value), as in
Program of Thought. Without a store hit the model writes a plain program.

Example (scripted model, a store holding one tool)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.nodes import ToolUser
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.sandboxes import make_executor
    from lemmaflow.skills_library import Entry, HashingEmbedder, open_store

    with make_executor("forkserver", pool_size=1) as ex, open_store("runs/lib.db", embedder=HashingEmbedder()) as store:
        store.add(Entry(kind="tool", name="total_cost", language="python", status="verified",
                        statement="total_cost(unit_price: float, count: int) -> float",
                        docstring="Cost of `count` items at `unit_price` each.",
                        source="def total_cost(unit_price, count):\\n    return unit_price * count\\n"))
        lm = ScriptedLM(["```python\\nfrom lemmaflow_tools import total_cost\\nprint(total_cost(3, 7))\\n```"])
        ctx = RunContext(backend=lm, executor=ex, store=store, problem_id="p2", run_id="r1")
        out = asyncio.run(ToolUser()(ctx, question="Each ticket costs 3 dollars. What do 7 tickets cost?"))
        print(out.answer, out.called, out.used)    # 21 ['total_cost'] [1]
"""

from __future__ import annotations

import ast
import asyncio
import secrets
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ...tools.interpreter import last_code_block
from ..backends.base import ChatPrompt, SamplingParams
from ..node import Node, NodeConfig
from .program_of_thought import ProgramOfThought

__all__ = ["ToolRef", "ToolUser", "build_tools_module", "parse_tool_events", "referenced_tools"]

MODULE = "lemmaflow_tools"
TOOL_USER_SYSTEM = "You are an expert Python programmer and mathematician."
TOOL_USER_PROMPT = (
    "These tested functions are available in the module `lemmaflow_tools`:\n\n{tools}\n\n"
    "Write a Python program that solves the problem below and prints only the final answer. Call "
    "the functions above where they fit (`from lemmaflow_tools import name`); you may also use "
    "sympy, fractions and math. Reply with one ```python block.\n\nProblem: {question}"
)
NO_TOOLS_PROMPT = (
    "Write a Python program that solves the problem below and prints only the final answer. "
    "You may use sympy, fractions and math. Reply with one ```python block.\n\nProblem: {question}"
)
_EVENT_PREFIX = "\x1elemmaflow-tool:"


class ToolRef(BaseModel):
    id: int
    name: str


def _tool_listing(entries) -> str:
    blocks = []
    for e in entries:
        doc = "\n".join("    " + ln if ln else "" for ln in (e.docstring or "(no description)").splitlines())
        blocks.append(f"def {e.statement or e.name + '(...)'}:\n    \"\"\"\n{doc}\n    \"\"\"")
    return "\n\n".join(blocks)


def build_tools_module(entries, nonce: str) -> str:
    """Source of ``lemmaflow_tools.py``: every tool, each wrapped to report its first call and error.

    Each tool's source is executed on its own (``<tool NAME>`` in tracebacks); one that fails to load
    is reported and left out, so the others stay importable.
    """
    mark = _EVENT_PREFIX + nonce
    head = f'''"""Tools from the lemmaflow skill library (generated for one sandbox job)."""
import functools as _lf_functools
import inspect as _lf_inspect
import sys as _lf_sys

_LF_MARK = {mark!r}


def _lf_report(kind, name, detail=""):
    detail = " ".join(str(detail).split())[:300]
    _lf_sys.stderr.write("\\n%s %s %s %s\\n" % (_LF_MARK, kind, name, detail))
    _lf_sys.stderr.flush()


def _lf_track(fn, name):
    seen = set()
    try:
        sig = _lf_inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None

    @_lf_functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if "call" not in seen:
            seen.add("call")
            _lf_report("call", name)
        if sig is not None:
            try:
                sig.bind(*args, **kwargs)
            except TypeError as exc:
                if "misuse" not in seen:
                    seen.add("misuse")
                    _lf_report("misuse", name, exc)
                raise
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if "error" not in seen:
                seen.add("error")
                _lf_report("error", name, "%s: %s" % (type(exc).__name__, exc))
            raise
    return wrapper


def _lf_load(name, source):
    ns = globals()
    try:
        exec(compile(source, "<tool %s>" % name, "exec"), ns)
        ns[name] = _lf_track(ns[name], name)
    except Exception as exc:
        ns.pop(name, None)
        _lf_report("load_error", name, "%s: %s" % (type(exc).__name__, exc))

'''
    body = "".join(f"\n_lf_load({e.name!r}, {e.source!r})  # library entry #{e.id}\n" for e in entries)
    names = ", ".join(repr(e.name) for e in entries)
    return head + body + f"\n__all__ = [n for n in [{names}] if n in globals()]\n"


def parse_tool_events(stderr: str, nonce: str) -> tuple[list[tuple[str, str, str]], str]:
    """``[(kind, tool name, detail)]`` reported by the module, and stderr without those lines."""
    mark = _EVENT_PREFIX + nonce
    events, kept = [], []
    for line in stderr.split("\n"):
        if line.startswith(mark + " "):
            parts = line[len(mark) + 1:].split(" ", 2)
            if len(parts) >= 2:
                events.append((parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
                continue
        kept.append(line)
    return events, "\n".join(kept).strip("\n") + ("\n" if kept and any(kept) else "")


def referenced_tools(code: str, names) -> list[str]:
    """Tool names the code imports from (or reaches through) ``lemmaflow_tools``: a static check.

    >>> referenced_tools("from lemmaflow_tools import a, b as c\\nimport lemmaflow_tools as t\\nt.d(1)", ["a", "b", "d", "e"])
    ['a', 'b', 'd']
    """
    names = set(names)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    found, aliases = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == MODULE:
            found.update(names if any(a.name == "*" for a in node.names) else {a.name for a in node.names})
        elif isinstance(node, ast.Import):
            aliases.update(a.asname or a.name for a in node.names if a.name == MODULE)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            found.add(node.attr)
    return sorted(found & names)


class ToolUser(Node):
    """Solve a problem with a program that calls tools retrieved from the skill library."""

    kind = "tool_user"
    needs_executor = True
    needs_store = True

    class Config(NodeConfig):
        k: int = Field(3, ge=0, le=20, description="tools retrieved and shown")
        statuses: tuple[Literal["verified", "pending"], ...] = ("verified",)
        temperature: float = Field(0.0, ge=0)
        top_p: float = Field(1.0, gt=0, le=1)
        max_tokens: int = Field(512, ge=1)
        system: str | None = TOOL_USER_SYSTEM
        prompt: str = TOOL_USER_PROMPT
        no_tools_prompt: str = NO_TOOLS_PROMPT
        timeout_s: float = Field(10.0, gt=0)
        demote_after: int = Field(1, ge=1, description="use-time failures that demote a verified tool")

        @model_validator(mode="after")
        def _check_prompts(self):
            if "{question}" not in self.prompt or "{tools}" not in self.prompt:
                raise ValueError("prompt must contain {question} and {tools}")
            if "{question}" not in self.no_tools_prompt:
                raise ValueError("no_tools_prompt must contain {question}")
            return self

    class Inputs(BaseModel):
        question: str

    class Outputs(ProgramOfThought.Outputs):  # a program's outputs, plus what happened to the tools
        retrieved: list[ToolRef] = Field(default_factory=list)
        shown: list[ToolRef] = Field(default_factory=list)
        referenced: list[str] = Field(default_factory=list)  # imported by the code (static)
        called: list[str] = Field(default_factory=list)  # actually called (instrumented module)
        used: list[int] = Field(default_factory=list)  # ids recorded as `used` (called, answer accepted)
        failed: dict[str, str] = Field(default_factory=dict)  # tool name -> error it raised (or load error)
        misused: dict[str, str] = Field(default_factory=dict)  # tool name -> call that did not fit its signature

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        from ...sandboxes import Job

        c = self.config
        executor, store = ctx.require_executor(), ctx.require_store()
        where = dict(run_id=ctx.run_id, problem_id=ctx.problem_id)
        hits = []
        if c.k:
            hits = await asyncio.to_thread(store.search, inputs.question, k=c.k, kind="tool", language="python",
                                           status=list(c.statuses), **where)
        tools = [h.entry for h in hits]
        refs = [ToolRef(id=e.id, name=e.name) for e in tools]
        if tools:
            await asyncio.to_thread(store.record_event, "shown", [e.id for e in tools], **where)
            text = c.prompt.format(question=inputs.question, tools=_tool_listing(tools))
        else:
            text = c.no_tools_prompt.format(question=inputs.question)
        ctx.trace.add("info", ctx.node_path, event="tools_shown", tools=[r.model_dump() for r in refs])
        params = SamplingParams(n=1, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens)
        reply = (await ctx.generate([ChatPrompt.user(text, system=c.system)], params))[0].completions[0].text
        code = last_code_block(reply, require_closed=False)
        if code is None:
            return self.Outputs(answer=None, program=None, error="no python block in the reply", retrieved=refs,
                                shown=refs)
        nonce = secrets.token_hex(8)
        files = {f"{MODULE}.py": build_tools_module(tools, nonce)} if tools else {}
        res = await executor.arun(Job(code=code, files=files, timeout_s=c.timeout_s))
        events, _ = parse_tool_events(res.stderr, nonce)
        by_name = {e.name: e for e in tools}
        called = sorted({n for k, n, _ in events if k == "call" and n in by_name})
        failed = {n: d for k, n, d in events if k in ("error", "load_error") and n in by_name}
        misused = {n: d for k, n, d in events if k == "misuse" and n in by_name}
        answer = None
        if res.ok:
            lines = [ln.strip() for ln in res.stdout.splitlines() if ln.strip()]
            answer = lines[-1] if lines else res.value
        used = [by_name[n].id for n in called if n not in failed and n not in misused] if answer is not None else []
        if used:
            await asyncio.to_thread(store.record_event, "used", used, data={"answer": answer[:200]}, **where)
        for name, detail in failed.items():
            await asyncio.to_thread(store.record_failure, by_name[name].id, demote_after=c.demote_after,
                                    evidence=f"{name}: {detail}", **where)
        ctx.trace.add("tool_call", ctx.node_path, code=code, stdout=res.stdout[-500:], ok=res.ok,
                      killed_by=res.killed_by, called=called, failed=failed, used=used)
        return self.Outputs(
            answer=answer, program=code, stdout=res.stdout, error=res.error,
            killed_by=res.killed_by, retrieved=refs, shown=refs, referenced=referenced_tools(code, by_name),
            called=called, used=used, failed=failed, misused=misused,
        )
