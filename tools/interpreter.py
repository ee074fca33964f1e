"""The Python interpreter tool: run model-written code in a sandbox, show the model what happened.

* :func:`extract_code_blocks` / :func:`last_code_block` pull fenced
  ```` ```python ```` blocks out of model text.
* :func:`format_output` turns an :class:`~lemmaflow.sandboxes.ExecResult` into
  the text a model sees: stdout, the value of a trailing expression (like a
  REPL), the error with the traceback trimmed to the model's own code, a note
  when the job was killed or its session restarted, all within ``max_chars``.
* :class:`PythonInterpreter` wraps an executor (one-shot or a persistent
  session) and does both.  The code never runs in this process: sympy and
  numpy are preloaded inside the sandbox.

Example::

    >>> from lemmaflow.sandboxes import make_executor
    >>> text = "Let me compute.\\n```python\\nimport sympy as sp\\nsp.factorint(360)\\n```"
    >>> last_code_block(text)
    'import sympy as sp\\nsp.factorint(360)'
    >>> with make_executor("forkserver", pool_size=1) as ex:      # doctest: +SKIP
    ...     PythonInterpreter(ex)(last_code_block(text))
    '{2: 3, 3: 2, 5: 1}'
"""

from __future__ import annotations

import re
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..sandboxes import Executor, ExecResult, Session

__all__ = ["PythonInterpreter", "extract_code_blocks", "format_output", "last_code_block"]

PYTHON_TAGS = ("python", "py", "python3", "py3")
_OPEN = re.compile(r"^[ \t]*```[ \t]*([\w+.-]*)")
_USER_FILE = re.compile(r'^\s*File "<(?:job|cell \d+)>", line \d+')
_FRAME = re.compile(r'^\s*File "')


def _blocks(text: str) -> list[tuple[str, str, bool]]:
    """``(tag, body, closed)`` for every fenced block; a line of just ``` closes one."""
    out: list[tuple[str, str, bool]] = []
    tag, body = None, []
    for line in text.split("\n"):
        if tag is None:
            m = _OPEN.match(line)
            if m:
                tag, body = m.group(1).lower(), []
        elif line.strip() == "```":
            out.append((tag, "\n".join(body), True))
            tag = None
        else:
            body.append(line)
    if tag is not None:
        out.append((tag, "\n".join(body), False))
    return out


def _clean(body: str) -> str:
    # Models sometimes indent a whole block inside a list item: dedent it.
    return textwrap.dedent(body).strip("\n").rstrip()


def extract_code_blocks(text: str, require_closed: bool = False, tags: tuple[str, ...] = PYTHON_TAGS) -> list[str]:
    """All non-empty fenced code blocks whose language tag is in ``tags``, in order.

    An unclosed block at the very end (a reply cut off or stopped mid-block)
    is included unless ``require_closed``.

    >>> extract_code_blocks("a\\n```python\\nx = 1\\n```\\nb\\n```py\\nprint(x)\\n")
    ['x = 1', 'print(x)']
    >>> extract_code_blocks("```python\\nprint(1)\\n", require_closed=True)
    []
    """
    return [_clean(body) for tag, body, closed in _blocks(text)
            if tag in tags and body.strip() and (closed or not require_closed)]


def last_code_block(text: str, require_closed: bool = False, tags: tuple[str, ...] = PYTHON_TAGS) -> str | None:
    """The last python block of ``text`` (the one generation stopped on), or ``None``.

    With ``require_closed`` an unfinished last block gives ``None`` rather than
    an earlier, already-finished one.

    >>> last_code_block("```python\\na = 1\\n```\\ntext\\n```python\\nprint(a)\\n```")
    'print(a)'
    >>> last_code_block("no code here") is None
    True
    """
    found = [(body, closed) for tag, body, closed in _blocks(text) if tag in tags and body.strip()]
    if not found or (require_closed and not found[-1][1]):
        return None
    return _clean(found[-1][0])


def _trim_traceback(stderr: str) -> str:
    """Keep the frames of the model's own code and the exception; drop library frames."""
    lines = stderr.rstrip("\n").split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _FRAME.match(line):
            # a frame header plus its indented source/caret lines
            j = i + 1
            while j < len(lines) and lines[j].startswith("    ") and not _FRAME.match(lines[j]):
                j += 1
            if _USER_FILE.match(line):
                out.extend(lines[i:j])
            elif out and out[-1] != "  ...":
                out.append("  ...")
            i = j
        else:
            out.append(line)
            i += 1
    return "\n".join(out)


def _clip(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    marker = "\n... [{} characters truncated] ...\n"
    keep = max(0, max_chars - len(marker.format(len(text))))
    head, tail = keep * 2 // 3, keep - keep * 2 // 3
    return text[:head] + marker.format(len(text) - head - tail) + (text[-tail:] if tail else "")


def format_output(result: ExecResult, max_chars: int = 2000) -> str:
    """What the model is shown for one execution.

    >>> from lemmaflow.sandboxes import ExecResult
    >>> format_output(ExecResult(stdout="4\\n", value="[1, 2]", exit_code=0))
    '4\\n[1, 2]'
    >>> format_output(ExecResult(exit_code=-9, killed_by="timeout", error="Timeout: exceeded the 5 s wall-clock limit"))
    'TimeoutError: execution timed out (exceeded the 5 s wall-clock limit)'
    """
    parts: list[str] = []
    if result.session_reset:
        parts.append("[note: the interpreter was restarted; variables from earlier code are gone]")
    if result.stdout.strip():
        parts.append(result.stdout.rstrip("\n"))
    if result.value is not None:
        parts.append(result.value)
    killed = result.killed_by
    if killed == "timeout":
        detail = (result.error or "").split(": ", 1)[-1] if result.error else "wall-clock limit"
        parts.append(f"TimeoutError: execution timed out ({detail})")
    elif killed == "output":
        parts.append("OutputLimitError: the code printed too much and was stopped")
    elif killed == "memory":
        parts.append(_trim_traceback(result.stderr) if "MemoryError" in result.stderr
                     else "MemoryError: the code ran out of memory")
    elif killed in ("crash", "signal"):
        parts.append(f"Error: the interpreter crashed ({result.error or killed})")
    elif result.stderr.strip():
        parts.append(_trim_traceback(result.stderr))
    elif result.error:
        parts.append(result.error)
    elif result.exit_code not in (0, None):
        parts.append(f"[exit status {result.exit_code}]")
    return _clip("\n".join(parts), max_chars)


class PythonInterpreter:
    """A model's Python tool over a sandbox executor.

    ``persistent=True`` keeps one session (variables survive between calls,
    as in ToRA rounds); call :meth:`close` (or use ``with``) to end it.
    """

    def __init__(
        self,
        executor: Executor,
        *,
        timeout_s: float | None = None,
        max_chars: int = 2000,
        persistent: bool = False,
    ) -> None:
        self.executor = executor
        self.timeout_s = timeout_s
        self.max_chars = max_chars
        self.persistent = persistent
        self._session: Session | None = None

    def _job(self, code: str):
        from ..sandboxes import Job

        return Job(code=code, timeout_s=self.timeout_s)

    def _target(self):
        if not self.persistent:
            return self.executor
        if self._session is None:
            self._session = self.executor.session()
        return self._session

    def run(self, code: str) -> ExecResult:
        """Execute ``code``; the raw result (a job's failure is a result, not an exception)."""
        return self._target().run(self._job(code))

    async def arun(self, code: str) -> ExecResult:
        import asyncio

        if self.persistent and self._session is None:
            await asyncio.to_thread(self._target)
        return await self._target().arun(self._job(code))

    def format(self, result: ExecResult) -> str:
        return format_output(result, self.max_chars)

    def __call__(self, code: str) -> str:
        """Run and format: the string to feed back to the model."""
        return self.format(self.run(code))

    async def acall(self, code: str) -> str:
        return self.format(await self.arun(code))

    def run_reply(self, text: str, require_closed: bool = False) -> tuple[str, ExecResult] | None:
        """Run the last python block of a model reply; ``None`` if it has none."""
        code = last_code_block(text, require_closed=require_closed)
        if code is None:
            return None
        return code, self.run(code)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> PythonInterpreter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
