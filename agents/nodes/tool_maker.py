"""Tool creation (CRAFT, arXiv 2309.17428; GENOME, arXiv 2311.04901): solved problems → tested tools.

From a solved problem (question, answer, optionally its worked solution) the model abstracts a
**general** Python function with a docstring and tests, in a strict reply format: exactly two
```` ```python ```` blocks, the function (imports, then one ``def`` with a docstring) and its tests
(``assert`` lines, each calling the function). A reply that breaks the format gets a
:class:`ToolFormatError` naming the rule; the model is asked once more (``retries``) with the
error, as it is for failing tests. Then:

1. **Dedupe (exact)**: a tool whose normalized source is already stored is ``duplicate``.
2. **Name**: a unique, valid identifier (a builtin's name gets ``_tool``; a name another tool has
   gets ``_2``, ``_3``...; the source and tests are renamed token by token).
3. **Test in the sandbox**: the function and every test run in one sandbox job (never here);
   each test reports pass or ``ExcType: message``. Only a tool whose tests all pass is stored.
4. **Store** (``verified``, with signature, docstring, tests, provenance and the test log as
   evidence). A near duplicate (embedding cosine ≥ the store's threshold) is confirmed by running
   the candidate against the existing tool's tests and the existing tool against the candidate's
   tests, in the sandbox; when both pass the candidate is a ``near_duplicate`` and not stored.

Example (scripted model; a real run passes a real backend)::

    import asyncio
    from lemmaflow.agents import RunContext
    from lemmaflow.agents.nodes import ToolMaker
    from lemmaflow.agents.backends import ScriptedLM
    from lemmaflow.sandboxes import make_executor
    from lemmaflow.skills_library import HashingEmbedder, open_store

    reply = ('```python\\ndef total_cost(unit_price: float, count: int) -> float:\\n'
             '    \"\"\"Cost of `count` items at `unit_price` each.\"\"\"\\n    return unit_price * count\\n```\\n'
             '```python\\nassert total_cost(2, 5) == 10\\nassert total_cost(0.5, 4) == 2\\n```')
    with make_executor("forkserver", pool_size=1) as ex, open_store("runs/lib.db", embedder=HashingEmbedder()) as store:
        ctx = RunContext(backend=ScriptedLM([reply]), executor=ex, store=store, problem_id="p1")
        out = asyncio.run(ToolMaker()(ctx, question="A pen costs 2 dollars. What do 5 pens cost?", answer="10"))
        print(out.outcome, out.name, out.entry_id)      # added total_cost 1 (duplicate 1 when run again)
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import io
import json
import keyword
import secrets
import tokenize
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ...tools.interpreter import extract_code_blocks
from ..backends.base import ChatMessage, ChatPrompt, SamplingParams
from ..node import Node, NodeConfig

__all__ = [
    "MakeAttempt",
    "ParsedTool",
    "TestReport",
    "ToolFormatError",
    "ToolMaker",
    "parse_tool_reply",
    "rename_identifier",
    "run_tool_tests",
    "unique_tool_name",
]

TOOL_MAKER_SYSTEM = (
    "You turn solved math problems into reusable, general Python tools. A tool is one function "
    "with type hints and a docstring, solving a whole family of problems, not just this one."
)
TOOL_MAKER_PROMPT = (
    "Problem: {question}\n{solution}Answer: {answer}\n\n"
    "Write a general Python function that solves problems like this one, with different numbers. "
    "Reply with exactly two ```python blocks and nothing else:\n"
    "1. the function: imports (if any), then ONE `def name(arg: type, ...) -> type:` whose first "
    "statement is a docstring saying what it computes; no printing.\n"
    "2. its tests: 2 to 5 lines, each `assert name(...) == expected`; one of them must reproduce "
    "the answer above.\n"
)
RETRY_PROMPT = "Your reply was rejected: {error}\nReply again in exactly the required format."

# What the sandbox job prints before its JSON report; a per-job nonce is appended.
_REPORT_MARK = "LEMMAFLOW_TOOL_TESTS:"
_BUILTIN_NAMES = frozenset(dir(builtins))


class ToolFormatError(ValueError):
    """The model's reply does not follow the tool format; the message says which rule it broke."""


class ParsedTool(BaseModel):
    """A tool as the model wrote it (before naming and testing)."""

    name: str
    source: str  # imports + the function
    signature: str  # name(args) -> ret
    docstring: str
    tests: list[str]  # each one runnable on its own after the source


class TestReport(BaseModel):
    """What running a tool's tests in the sandbox gave: one ``None`` (pass) or error per test."""

    results: list[str | None]
    error: str | None = None  # the job's own failure (kill, crash) or the source's definition error
    killed_by: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.results) and all(r is None for r in self.results)

    def log(self) -> str:
        lines = [f"test {i + 1}: {'ok' if r is None else r}" for i, r in enumerate(self.results)]
        if self.error:
            lines.append(f"error: {self.error}")
        return "\n".join(lines)


class MakeAttempt(BaseModel):
    """One model reply and what became of it."""

    reply: str
    error: str | None = None  # format error or failing-test summary
    tests: TestReport | None = None


# --------------------------------------------------------------------------- parsing
def _calls(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name for n in ast.walk(node))


def parse_tool_reply(reply: str, *, max_tests: int = 8) -> ParsedTool:
    """Parse the two-block reply into a :class:`ParsedTool`; :class:`ToolFormatError` says what is wrong.

    >>> t = parse_tool_reply("```python\\ndef twice(x: int) -> int:\\n    '''Double x.'''\\n    return 2 * x\\n```\\n"
    ...                      "```python\\nassert twice(2) == 4\\n```")
    >>> t.name, t.signature, t.tests
    ('twice', 'twice(x: int) -> int', ['assert twice(2) == 4'])
    """
    blocks = extract_code_blocks(reply)
    if len(blocks) < 2:
        raise ToolFormatError(f"expected two ```python blocks (the function, then its tests), found {len(blocks)}")
    src, test_src = blocks[0], blocks[1]
    try:
        tree = ast.parse(src)
    except SyntaxError as e:
        raise ToolFormatError(f"the function block is not valid Python: {e.msg} (line {e.lineno})") from None
    funcs = [s for s in tree.body if isinstance(s, ast.FunctionDef)]
    others = [s for s in tree.body if not isinstance(s, (ast.FunctionDef, ast.Import, ast.ImportFrom))]
    if others:
        raise ToolFormatError(f"the function block may hold only imports and one def; line {others[0].lineno} "
                              f"is a {type(others[0]).__name__}")
    if len(funcs) != 1:
        raise ToolFormatError(f"the function block must define exactly one function, found {len(funcs)}")
    fn = funcs[0]
    doc = ast.get_docstring(fn)
    if not doc or not doc.strip():
        raise ToolFormatError(f"function {fn.name!r} has no docstring")
    try:
        ttree = ast.parse(test_src)
    except SyntaxError as e:
        raise ToolFormatError(f"the tests block is not valid Python: {e.msg} (line {e.lineno})") from None
    imports = [ast.get_source_segment(test_src, s) for s in ttree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    tests = []
    for s in ttree.body:
        if isinstance(s, (ast.Import, ast.ImportFrom)):
            continue
        if not isinstance(s, ast.Assert):
            raise ToolFormatError(f"the tests block may hold only assert lines; line {s.lineno} is a {type(s).__name__}")
        if not _calls(s, fn.name):
            raise ToolFormatError(f"test on line {s.lineno} does not call {fn.name}()")
        tests.append("\n".join([*imports, ast.get_source_segment(test_src, s)]))
    if not tests:
        raise ToolFormatError("the tests block has no assert line")
    sig = f"{fn.name}({ast.unparse(fn.args)})" + (f" -> {ast.unparse(fn.returns)}" if fn.returns else "")
    return ParsedTool(name=fn.name, source=src.strip() + "\n", signature=sig, docstring=doc.strip(),
                      tests=tests[:max_tests])


# --------------------------------------------------------------------------- naming
def rename_identifier(code: str, old: str, new: str) -> str:
    """Replace the identifier ``old`` by ``new`` in ``code`` (tokens, not text: ``x.old`` and strings stay).

    >>> rename_identifier("def f(x):\\n    return f(x - 1) + obj.f  # f\\n", "f", "g")
    'def g(x):\\n    return g(x - 1) + obj.f  # f\\n'
    """
    lines = code.splitlines(keepends=True)
    edits, prev = [], None
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.NAME and tok.string == old and not (prev is not None and prev.string == "."):
            edits.append(tok.start)
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
            prev = tok
    for row, col in reversed(edits):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + new + line[col + len(old):]
    return "".join(lines)


def unique_tool_name(name: str, taken) -> str:
    """A valid identifier for a new tool: not a keyword or builtin, not private, not ``taken(name)``.

    >>> unique_tool_name("sum", lambda n: False), unique_tool_name("area", lambda n: n in {"area", "area_2"})
    ('sum_tool', 'area_3')
    """
    base = name if name.isidentifier() else "tool"
    base = base.lstrip("_") or "tool"
    if keyword.iskeyword(base) or keyword.issoftkeyword(base) or base in _BUILTIN_NAMES or base.startswith("lemmaflow"):
        base += "_tool"
    candidate, i = base, 1
    while taken(candidate):
        i += 1
        candidate = f"{base}_{i}"
    return candidate


def _renamed(tool: ParsedTool, new: str) -> ParsedTool:
    if new == tool.name:
        return tool
    return ParsedTool(name=new, source=rename_identifier(tool.source, tool.name, new),
                      signature=rename_identifier(tool.signature, tool.name, new), docstring=tool.docstring,
                      tests=[rename_identifier(t, tool.name, new) for t in tool.tests])


# --------------------------------------------------------------------------- testing in the sandbox
def _harness(source: str, tests: list[str], mark: str) -> str:
    """Sandbox code: define the tool, run each test in a copy of its namespace, print a JSON report."""
    return (
        "import json as _lf_json\n"
        f"_lf_src, _lf_tests = {source!r}, {tests!r}\n"
        "_lf_ns = {'__name__': 'lemmaflow_tool'}\n"
        "try:\n"
        "    exec(compile(_lf_src, '<tool>', 'exec'), _lf_ns)\n"
        "except BaseException as _lf_e:\n"
        "    _lf_res = ['definition failed: %s: %s' % (type(_lf_e).__name__, _lf_e)] * len(_lf_tests)\n"
        "else:\n"
        "    _lf_res = []\n"
        "    for _lf_t in _lf_tests:\n"
        "        try:\n"
        "            exec(compile(_lf_t, '<test>', 'exec'), dict(_lf_ns))\n"
        "            _lf_res.append(None)\n"
        "        except BaseException as _lf_e:\n"
        "            _lf_res.append(('%s: %s' % (type(_lf_e).__name__, _lf_e)).rstrip(': ')[:300])\n"
        f"print({mark!r} + _lf_json.dumps(_lf_res))\n"
    )


def run_tool_tests(executor, source: str, tests: list[str], *, timeout_s: float = 10.0,
                   alias: tuple[str, str] | None = None) -> TestReport:
    """Run ``tests`` against ``source`` in one sandbox job (blocking; call it from a thread in async code).

    ``alias=(existing, new)`` binds the name ``existing`` to the function ``new`` first, so one tool
    can be run against another tool's tests (near-duplicate confirmation).
    """
    from ...sandboxes import Job

    if alias is not None:
        source = f"{source.rstrip()}\n{alias[0]} = {alias[1]}\n"
    mark = f"{_REPORT_MARK}{secrets.token_hex(8)}:"
    res = executor.run(Job(code=_harness(source, list(tests), mark), timeout_s=timeout_s))
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith(mark)]
    if not res.ok or not lines:
        why = res.error or (f"killed: {res.killed_by}" if res.killed_by else "no test report")
        return TestReport(results=[f"not run: {why}"] * len(tests), error=why, killed_by=res.killed_by)
    try:
        results = json.loads(lines[-1][len(mark):])
    except ValueError:
        return TestReport(results=["not run: unreadable report"] * len(tests), error="unreadable test report")
    if not isinstance(results, list) or len(results) != len(tests):
        return TestReport(results=["not run: bad report"] * len(tests), error="test report does not match the tests")
    return TestReport(results=[None if r is None else str(r) for r in results])


# --------------------------------------------------------------------------- the node
MakeOutcome = Literal["added", "duplicate", "near_duplicate", "malformed", "tests_failed"]


class ToolMaker(Node):
    """Abstract a general, tested tool from one solved problem and store it in the skill library."""

    kind = "tool_maker"
    needs_executor = True
    needs_store = True

    class Config(NodeConfig):
        temperature: float = Field(0.0, ge=0)
        top_p: float = Field(1.0, gt=0, le=1)
        max_tokens: int = Field(512, ge=1)
        system: str | None = TOOL_MAKER_SYSTEM
        prompt: str = TOOL_MAKER_PROMPT
        retry_prompt: str = RETRY_PROMPT
        retries: int = Field(1, ge=0, le=3, description="new replies after a malformed one or failing tests")
        max_tests: int = Field(8, ge=1, le=32)
        timeout_s: float = Field(10.0, gt=0, description="wall-clock limit of one test job")
        status: Literal["verified", "pending"] = "verified"

        @model_validator(mode="after")
        def _check_prompt(self):
            for f in ("{question}", "{answer}", "{solution}"):
                if f not in self.prompt:
                    raise ValueError(f"prompt must contain {f}")
            if "{error}" not in self.retry_prompt:
                raise ValueError("retry_prompt must contain {error}")
            return self

    class Inputs(BaseModel):
        question: str
        answer: str | None = None
        solution: str | None = None

    class Outputs(BaseModel):
        outcome: MakeOutcome
        entry_id: int | None = None
        name: str | None = None
        signature: str | None = None
        attempts: list[MakeAttempt]
        error: str | None = None

    def _first_prompt(self, inputs: Inputs) -> ChatPrompt:
        c = self.config
        sol = f"Solution: {inputs.solution.strip()}\n" if inputs.solution and inputs.solution.strip() else ""
        text = c.prompt.format(question=inputs.question.strip(), solution=sol, answer=inputs.answer or "unknown")
        return ChatPrompt.user(text, system=c.system)

    async def run(self, inputs: Inputs, ctx) -> Outputs:
        c = self.config
        executor, store = ctx.require_executor(), ctx.require_store()
        params = SamplingParams(n=1, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens)
        prompt = self._first_prompt(inputs)
        attempts: list[MakeAttempt] = []
        outcome: MakeOutcome = "malformed"
        for _ in range(c.retries + 1):
            reply = (await ctx.generate([prompt], params))[0].completions[0].text
            attempt = MakeAttempt(reply=reply)
            attempts.append(attempt)
            try:
                tool = parse_tool_reply(reply, max_tests=c.max_tests)
            except ToolFormatError as e:
                attempt.error, outcome = f"malformed: {e}", "malformed"
                ctx.trace.add("info", ctx.node_path, event="tool_rejected", reason=attempt.error)
                prompt = self._retry(prompt, reply, str(e))
                continue
            dup = await asyncio.to_thread(self._exact_duplicate, store, tool)
            if dup is not None:
                ctx.trace.add("info", ctx.node_path, event="tool_duplicate", entry_id=dup.id, name=dup.name)
                return self.Outputs(outcome="duplicate", entry_id=dup.id, name=dup.name, signature=dup.statement,
                                    attempts=attempts)
            tool = _renamed(tool, await asyncio.to_thread(
                unique_tool_name, tool.name, lambda n: bool(store.find_by_name(n, kind="tool"))))
            report = await asyncio.to_thread(run_tool_tests, executor, tool.source, tool.tests, timeout_s=c.timeout_s)
            attempt.tests = report
            ctx.trace.add("info", ctx.node_path, event="tool_tests", name=tool.name, passed=report.passed, log=report.log()[:2000])
            if not report.passed:
                failing = [f"`{t}` -> {r}" for t, r in zip(tool.tests, report.results) if r is not None]
                attempt.error, outcome = "tests failed: " + "; ".join(failing or [report.error or "?"]), "tests_failed"
                prompt = self._retry(prompt, reply, attempt.error[:1500])
                continue
            result, name = await asyncio.to_thread(self._store, store, executor, tool, report, inputs, ctx)
            ctx.trace.add("info", ctx.node_path, event="tool_stored", outcome=result.outcome, entry_id=result.id, name=name)
            return self.Outputs(outcome=result.outcome, entry_id=result.id, name=name, signature=tool.signature
                                if name == tool.name else rename_identifier(tool.signature, tool.name, name),
                                attempts=attempts)
        return self.Outputs(outcome=outcome, attempts=attempts, error=attempts[-1].error)

    def _retry(self, prompt: ChatPrompt, reply: str, error: str) -> ChatPrompt:
        msgs = (*prompt.messages, ChatMessage(role="assistant", content=reply),
                ChatMessage(role="user", content=self.config.retry_prompt.format(error=error)))
        return ChatPrompt(messages=msgs)

    @staticmethod
    def _exact_duplicate(store, tool: ParsedTool):
        """The stored entry with this tool's normalized content, under its own name or a ``_2``, ``_3``... rename."""
        from ...skills_library import content_hash

        name, k = unique_tool_name(tool.name, lambda n: False), 1
        candidates = [tool, _renamed(tool, name)] if name != tool.name else [tool]
        while True:
            for t in candidates:
                found = store.find_by_hash(content_hash("tool", "python", t.source, t.signature))
                if found is not None:
                    return found
            k += 1
            if k > 50 or not store.find_by_name(f"{name}_{k}", kind="tool"):
                return None
            candidates = [_renamed(tool, f"{name}_{k}")]

    def _store(self, store, executor, tool: ParsedTool, report: TestReport, inputs: Inputs, ctx):
        """Add the tested tool (near duplicates confirmed by cross-running tests); keep its name unique."""
        from ...skills_library import Entry, Provenance

        c = self.config

        def confirm(new, existing) -> bool:  # same behaviour: each passes the other's tests
            if existing.kind != "tool" or not existing.tests:
                return False
            a = run_tool_tests(executor, new.source, existing.tests, timeout_s=c.timeout_s, alias=(existing.name, new.name))
            if not a.passed:
                return False
            b = run_tool_tests(executor, existing.source, new.tests, timeout_s=c.timeout_s, alias=(new.name, existing.name))
            return b.passed

        entry = Entry(
            kind="tool", name=tool.name, language="python", source=tool.source, statement=tool.signature,
            docstring=tool.docstring, tests=tool.tests, status=c.status,
            evidence=f"{len(tool.tests)}/{len(tool.tests)} tests passed in sandbox {getattr(executor, 'kind', '?')}\n"
                     + report.log(),
            provenance=Provenance(problem_id=ctx.problem_id, run_id=ctx.run_id, model=ctx.backend.model_id),
            metadata={"maker": "tool_maker", "question": inputs.question[:1000], "answer": inputs.answer},
        )
        result = store.add(entry, confirm=confirm)
        name = tool.name
        if result.outcome == "added":
            name = self._settle_name(store, result.id, tool)
        elif result.id is not None:
            other = store.get(result.id)
            name = other.name if other is not None else name
        return result, name

    @staticmethod
    def _settle_name(store, entry_id: int, tool: ParsedTool) -> str:
        """Another writer may have stored the same name meanwhile: the older entry keeps it."""
        name = tool.name
        for _ in range(5):
            if not any(e.id < entry_id for e in store.find_by_name(name, kind="tool")):
                return name
            name = unique_tool_name(tool.name, lambda n: bool(store.find_by_name(n, kind="tool")))
            t = _renamed(tool, name)
            store.update(entry_id, name=name, source=t.source, statement=t.signature, tests=t.tests)
        return name
