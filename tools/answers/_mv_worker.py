"""Child-process side of :class:`~lemmaflow.tools.answers.equivalence.AnswerChecker`.

Runs math-verify (parse + verify) in its own process so the parent can enforce a
hard per-operation timeout from any thread by killing this process. It is
started as a *script* (``python _mv_worker.py``), not via multiprocessing, so it
never re-imports the user's ``__main__`` and never imports lemmaflow's package
``__init__`` files (only the sibling ``normalize.py``, loaded by file path).

Protocol: JSON lines. stdin receives ``{"op": "job", ...}`` / ``{"op": "exit"}``;
stdout sends ``{"ready": ...}`` once, then per job a stream of
``{"b": ["p", i]}`` (parse of item i begins), ``{"b": ["c", i, j]}`` (comparison
begins), ``{"r": [i, j, bool]}`` (comparison result), and finally
``{"done": ...}``. The parent times each ``b`` message: an operation that runs
longer than its timeout gets the process killed.

Not meant to be run by hand, but this works as a smoke test::

    echo '{"op":"job","mode":"pairs","items":["\\\\sqrt{4}","2"],"pairs":[[0,1]]}' \\
        | python tools/answers/_mv_worker.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path

_PARSE_CACHE_SIZE = 10_000


def _load_normalize():
    # Loaded by path under a private name: importing the package would run its
    # __init__ (pydantic etc.), and a plain "import normalize" could shadow things.
    path = Path(__file__).with_name("normalize.py")
    spec = importlib.util.spec_from_file_location("_lemmaflow_answers_normalize", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _watch_parent() -> None:
    # stdin EOF ends the loop when the parent exits normally; this also covers a
    # parent killed while we are deep inside sympy and not reading stdin.
    parent = os.getppid()
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _limit_memory(megabytes: int) -> None:
    try:
        import resource

        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not on this platform / not allowed
        pass


def _numeric_value(e, sympy) -> complex | None:
    """Value of a constant expression; ``i``/``e`` read as the constants (as math-verify may)."""
    if not isinstance(e, sympy.Expr):
        return None
    if not e.is_number:
        names = {s.name for s in e.free_symbols}
        if not names or not names <= {"i", "e"}:
            return None
        # math-verify's symbols carry assumptions (real=True), so match by name.
        e = e.subs({s: (sympy.I if s.name == "i" else sympy.E) for s in e.free_symbols})
        if not e.is_number:
            return None
    try:
        value = complex(sympy.N(e, 30))
    except (TypeError, ValueError, ArithmeticError):
        return None
    if value != value or abs(value) == float("inf"):
        return None  # nan / infinities: leave to math-verify
    return value


def _quick_verdict(a: list, b: list, sympy) -> bool | None:
    """Cheap ``False`` for pairs math-verify would reject slowly, else ``None``.

    Only structural facts about the parsed sympy objects are used (no LaTeX
    handling): two constants that differ by more than math-verify's 6-decimal
    rounding could absorb; a constant vs an expression in ordinary variables; an
    interval/union vs a constant. Such pairs are the bulk of comparisons in a
    vote (different numeric answers), and verify() spends 10-200 ms on each.
    """
    x = next((e for e in a if isinstance(e, sympy.Basic)), None)
    y = next((e for e in b if isinstance(e, sympy.Basic)), None)
    if x is None or y is None:
        return None
    vx, vy = _numeric_value(x, sympy), _numeric_value(y, sympy)
    if vx is not None and vy is not None:
        return False if abs(vx - vy) > 1e-6 * max(1.0, abs(vx), abs(vy)) else None
    for value, other in ((vx, y), (vy, x)):
        if value is None:
            continue
        if isinstance(other, (sympy.Interval, sympy.Union)):
            return False
        if isinstance(other, sympy.Expr) and not isinstance(other, sympy.Rel):
            names = {s.name for s in other.free_symbols}
            if names - {"i", "e"}:  # a genuine variable: never equal to a constant
                return False
    return None


class _Engine:
    def __init__(self, send) -> None:
        import logging

        # math-verify logs a warning for every failed parse and for disabled
        # signal timeouts; the parent owns timeouts, so silence it.
        logging.getLogger("math_verify").setLevel(logging.CRITICAL)
        logging.getLogger("latex2sympy2_extended").setLevel(logging.CRITICAL)
        import sympy
        from math_verify import parse, verify

        self._sympy = sympy
        self._parse = parse
        self._verify = verify
        self._norm = _load_normalize()
        self._send = send
        self._cache: OrderedDict[str, list] = OrderedDict()
        # Warm up lazily-built regexes and antlr tables so the first real
        # operation is not charged their cost against its timeout.
        self._verify(self.parsed("\\frac{1}{2}"), self.parsed("0.5"), timeout_seconds=None)

    def parsed(self, text: str) -> list:
        hit = self._cache.get(text)
        if hit is not None:
            self._cache.move_to_end(text)
            return hit
        source = text
        # Bare words ("Evelyn") would parse as a product of symbols.
        stripped = text.replace(" ", "")
        if len(stripped) >= 2 and stripped.isalpha() and stripped.isascii():
            source = "\\text{" + text + "}"
        result = self._parse("\\boxed{" + source + "}", parsing_timeout=None)
        if not result:
            result = self._parse("$" + source + "$", parsing_timeout=None)
        self._cache[text] = result
        if len(self._cache) > _PARSE_CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    def run(self, job: dict) -> dict:
        items: list[str] = job["items"]
        skip = set(job.get("skip", ()))
        known: dict[tuple[int, int], bool] = {(i, j): bool(v) for i, j, v in job.get("known", ())}
        parsed: dict[int, list] = {}
        use_fast = job.get("fast", True)
        prepared = [self._norm.prepare(t) for t in items] if use_fast else None

        def get(i: int) -> list:
            if i in skip:
                return []
            if i not in parsed:
                if items[i] not in self._cache:
                    self._send({"b": ["p", i]})
                parsed[i] = self.parsed(items[i])
            return parsed[i]

        def compare(i: int, j: int) -> bool:
            key = (i, j) if i < j else (j, i)
            if key in known:
                return known[key]
            fast = self._norm.compare_prepared(prepared[i], prepared[j]) if prepared else None
            if fast is not None:
                result = fast
            else:
                a, b = get(i), get(j)
                if not a or not b:
                    result = False  # unparseable: the key comparison already failed
                else:
                    self._send({"b": ["c", key[0], key[1]]})
                    quick = _quick_verdict(a, b, self._sympy) if use_fast else None
                    # verify() is asymmetric (gold vs prediction); equivalence is symmetric.
                    result = (
                        quick
                        if quick is not None
                        else bool(self._verify(a, b, timeout_seconds=None) or self._verify(b, a, timeout_seconds=None))
                    )
                    self._send({"r": [key[0], key[1], result]})
            known[key] = result
            return result

        if job["mode"] == "group":
            # Greedy: each item joins the first class whose representative (first member) matches.
            classes: list[list[int]] = []
            for k in range(len(items)):
                for members in classes:
                    if compare(members[0], k):
                        members.append(k)
                        break
                else:
                    classes.append([k])
            return {"done": classes}
        return {"done": [compare(i, j) for i, j in job["pairs"]]}


def main() -> None:
    memory_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    # Keep a private copy of stdout for the protocol and point fd 1 at stderr,
    # so a library that prints cannot corrupt the JSON stream.
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    except (ImportError, ValueError):
        pass
    threading.Thread(target=_watch_parent, daemon=True).start()
    if memory_mb > 0:
        _limit_memory(memory_mb)

    def send(msg: dict) -> None:
        proto.write(json.dumps(msg) + "\n")

    engine = _Engine(send)
    send({"ready": os.getpid()})
    for line in sys.stdin:
        msg = json.loads(line)
        op = msg.get("op")
        if op == "exit":
            break
        if op == "job":
            send(engine.run(msg))


if __name__ == "__main__":
    # Script mode puts this folder first on sys.path; drop it so sibling module
    # names (extract, voting, ...) cannot shadow anything sympy imports.
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path.pop(0)
    main()
