r"""Answer equivalence: a cheap normalized-key fast path, then math-verify + sympy.

:class:`AnswerChecker` decides whether two final answers mean the same thing.

* **Fast path** (in-process, microseconds): equal canonical keys, or two plain
  numbers / integer fractions compared exactly (integers) or with a relative
  tolerance of 1e-6 capped at 1e-4 absolute (decimals); see
  :mod:`~lemmaflow.tools.answers.normalize`.
* **Slow path**: math-verify ``parse`` + ``verify`` (both directions, since
  ``verify`` is asymmetric) in a child worker process owned by the checker.
  Each parse and each comparison gets ``timeout_s``; one that overruns gets the
  worker killed and restarted, is counted in ``stats.timeouts``, and is treated
  as *not equivalent* (and cached as such). Killing a process is the only
  timeout that works from any thread and also stops C-level sympy/bignum work,
  which math-verify's own ``signal.alarm`` timeout can do neither of.
* **Batching**: :meth:`AnswerChecker.group` partitions a whole list in one round
  trip; :meth:`AnswerChecker.equivalent_many` checks many pairs in one.

The checker is thread-safe (calls to the worker are serialized by a lock) and
holds no global state. Close it with :meth:`close` or a ``with`` block; the
worker is also killed on garbage collection and at interpreter exit.

Example::

    >>> from lemmaflow.tools.answers import AnswerChecker
    >>> with AnswerChecker(timeout_s=5.0) as checker:
    ...     checker.equivalent(r"\frac12", "0.5"), checker.group(["2", r"\sqrt{4}", "3"])
    (True, [[0, 1], [2]])
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

from pydantic import BaseModel

from ._mv_process import WorkerProcess
from .normalize import canonical_key, compare_prepared, fast_equivalent, normalize_answer, prepare

__all__ = ["AnswerChecker", "CheckerStats"]

_TIMEOUT = object()

class CheckerStats(BaseModel):
    """Counters of an :class:`AnswerChecker` (a snapshot; see ``checker.stats``)."""

    fast_path: int = 0  # pairs or groups decided without the worker
    cache_hits: int = 0  # pairs answered from the verdict cache
    worker_jobs: int = 0  # round trips to the worker (batches, not pairs)
    parses: int = 0  # math-verify parses (the worker caches them)
    comparisons: int = 0  # math-verify comparisons (verify in both directions)
    timeouts: int = 0  # operations killed for running over timeout_s
    crashes: int = 0  # worker deaths outside a timeout (e.g. memory limit)
    worker_starts: int = 0  # processes started, restarts included
    seconds_in_worker: float = 0.0


class AnswerChecker:
    """Decide equivalence of final answers (see the module docstring).

    ``timeout_s`` bounds each math-verify parse and each comparison; it does not
    include worker start-up, which is bounded by ``startup_timeout_s``.
    ``worker_memory_mb`` caps the worker's address space (Linux), so a
    pathological answer such as ``9^{9^{9}}`` fails inside the worker instead of
    eating the machine; ``None`` disables the cap. ``fast_path=False`` sends every
    comparison, even of identical answers, through math-verify (diagnostics and
    tests: "does math-verify itself accept this answer?").
    """

    def __init__(
        self,
        timeout_s: float = 5.0,
        *,
        startup_timeout_s: float = 120.0,
        cache_size: int = 100_000,
        worker_memory_mb: int | None = 4096,
        fast_path: bool = True,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.timeout_s = float(timeout_s)
        self.startup_timeout_s = float(startup_timeout_s)
        self._memory_mb = worker_memory_mb
        self._cache_size = cache_size
        self._verdicts: OrderedDict[tuple[str, str], bool] = OrderedDict()
        # Keys whose parse timed out: never parsed again (they would hang again).
        self._unparseable: set[str] = set()
        self._stats = CheckerStats()
        self._lock = threading.RLock()
        self._worker: WorkerProcess | None = None
        self._closed = False
        self._fast = fast_path

    # -- public API -------------------------------------------------------------

    @property
    def stats(self) -> CheckerStats:
        with self._lock:
            return self._stats.model_copy()

    @staticmethod
    def canonical_key(answer: str) -> str:
        """Cheap key: equal keys ⇒ equivalent answers (the converse does not hold)."""
        return canonical_key(answer)

    @staticmethod
    def normalize(answer: str) -> str:
        """The cleaned display form used for comparisons (``"$1,000$."`` → ``"1000"``)."""
        return normalize_answer(answer)

    def equivalent(self, a: str, b: str) -> bool:
        """True if ``a`` and ``b`` denote the same answer. Symmetric."""
        return self.equivalent_many([(a, b)])[0]

    def equivalent_many(self, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        """Check many pairs; everything the fast path cannot decide goes in ONE worker call."""
        results: list[bool | None] = []
        items: dict[str, int] = {}  # canonical key -> item index in the job
        texts: list[str] = []
        todo: list[tuple[int, int, int]] = []  # (pair index, item i, item j)
        with self._lock:
            for n, (a, b) in enumerate(pairs):
                fast = self._fast_equivalent(a, b)
                if fast is not None:
                    self._stats.fast_path += 1
                    results.append(fast)
                    continue
                ka, kb = self._item_key(a), self._item_key(b)
                cached = self._cached(ka, kb)
                if cached is not None:
                    results.append(cached)
                    continue
                results.append(None)
                for key, text in ((ka, a), (kb, b)):
                    if key not in items:
                        items[key] = len(texts)
                        texts.append(normalize_answer(text))
                todo.append((n, items[ka], items[kb]))
            if todo:
                keys = list(items)
                verdicts = self._run_job(texts, keys, "pairs", [[i, j] for _, i, j in todo])
                for (n, _, _), verdict in zip(todo, verdicts):
                    results[n] = verdict
        return [bool(r) for r in results]

    def group(self, answers: Sequence[str]) -> list[list[int]]:
        """Partition ``answers`` into equivalence classes of indices, in ONE worker call.

        Raises ``RuntimeError`` only if the worker process cannot be started.
        Classes are ordered by their first member; members are ascending. Grouping
        is greedy: answers are taken in order and each joins the first class whose
        representative (its first member) is equivalent, else opens a new class.
        (Equivalence by math-verify is not guaranteed transitive; this makes the
        result deterministic and order-dependent in a documented way.)
        """
        keys = [self._item_key(a) for a in answers]
        uniq: dict[str, int] = {}
        texts: list[str] = []
        for a, k in zip(answers, keys):
            if k not in uniq:
                uniq[k] = len(texts)
                texts.append(normalize_answer(a))
        ukeys = list(uniq)
        with self._lock:
            item_classes = self._group_fast(texts, ukeys)
            if item_classes is None:
                item_classes = self._run_job(texts, ukeys, "group", None)
            else:
                self._stats.fast_path += 1
        class_of_item = {i: c for c, members in enumerate(item_classes) for i in members}
        out: list[list[int]] = [[] for _ in item_classes]
        for idx, k in enumerate(keys):
            out[class_of_item[uniq[k]]].append(idx)
        return sorted(out, key=lambda members: members[0])

    def start(self) -> None:
        """Start the worker now (otherwise it starts on the first slow-path call)."""
        with self._lock:
            self._ensure_worker()

    def close(self) -> None:
        """Kill the worker. The checker cannot be used afterwards."""
        with self._lock:
            self._closed = True
            if self._worker is not None:
                self._worker.kill()
                self._worker = None

    def __enter__(self) -> AnswerChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------

    def _item_key(self, answer: str) -> str:
        # Items (and cached verdicts) are identified by canonical key; without the
        # fast path only identical normalized spellings may share an item.
        return canonical_key(answer) if self._fast else "raw:" + normalize_answer(answer)

    def _fast_equivalent(self, a: str, b: str) -> bool | None:
        return fast_equivalent(a, b) if self._fast else None

    def _cached(self, ka: str, kb: str) -> bool | None:
        if ka in self._unparseable or kb in self._unparseable:
            self._stats.cache_hits += 1
            return False
        pair = (ka, kb) if ka <= kb else (kb, ka)
        hit = self._verdicts.get(pair)
        if hit is not None:
            self._verdicts.move_to_end(pair)
            self._stats.cache_hits += 1
        return hit

    def _remember(self, ka: str, kb: str, verdict: bool) -> None:
        self._verdicts[(ka, kb) if ka <= kb else (kb, ka)] = verdict
        if len(self._verdicts) > self._cache_size:
            self._verdicts.popitem(last=False)

    def _resolve_locally(
        self, texts: list[str], mode: str, pairs: list[list[int]] | None, lookup
    ) -> list | None:
        """Run the worker's algorithm here if ``lookup(i, j)`` (known verdicts) and the
        fast path decide every pair it needs; ``None`` as soon as one is undecided."""

        prepared = [prepare(t) for t in texts] if self._fast else None

        def compare(i: int, j: int) -> bool | None:
            verdict = compare_prepared(prepared[i], prepared[j]) if prepared else None
            return lookup(min(i, j), max(i, j)) if verdict is None else verdict

        if mode == "pairs":
            out = [compare(i, j) for i, j in pairs or []]
            return None if any(v is None for v in out) else out
        classes: list[list[int]] = []
        for k in range(len(texts)):
            for members in classes:
                verdict = compare(members[0], k)
                if verdict is None:
                    return None
                if verdict:
                    members.append(k)
                    break
            else:
                classes.append([k])
        return classes

    def _group_fast(self, texts: list[str], keys: list[str]) -> list[list[int]] | None:
        """Greedy grouping without the worker, if fast path + cached verdicts suffice."""

        def lookup(i: int, j: int) -> bool | None:
            if keys[i] in self._unparseable or keys[j] in self._unparseable:
                return False
            pair = (keys[i], keys[j]) if keys[i] <= keys[j] else (keys[j], keys[i])
            return self._verdicts.get(pair)

        return self._resolve_locally(texts, "group", None, lookup)

    def _ensure_worker(self) -> WorkerProcess:
        if self._closed:
            raise RuntimeError("AnswerChecker is closed")
        if self._worker is None or self._worker.proc.poll() is not None:
            self._worker = WorkerProcess(self.startup_timeout_s, self._memory_mb)
            self._stats.worker_starts += 1
        return self._worker

    def _discard_worker(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None

    def _run_job(self, texts: list[str], keys: list[str], mode: str, pairs: list[list[int]] | None) -> list:
        """Send one job; on a timeout kill the worker, mark the culprit, resend.

        Every restart adds one verdict (``False``) or one unparseable item, so the
        loop ends. Verdicts from math-verify are cached by canonical-key pair.
        """
        known: dict[tuple[int, int], bool] = {}
        for i in range(len(keys)):  # cached verdicts save the worker repeated work
            for j in range(i + 1, len(keys)):
                pair = (keys[i], keys[j]) if keys[i] <= keys[j] else (keys[j], keys[i])
                if pair in self._verdicts:
                    known[(i, j)] = self._verdicts[pair]
        skip = {i for i, k in enumerate(keys) if k in self._unparseable}
        started = time.perf_counter()
        self._stats.worker_jobs += 1
        # Each restart settles one operation, so this many attempts always suffice.
        attempts = len(texts) + len(texts) * len(texts) + 3
        try:
            while True:
                attempts -= 1
                if attempts < 0:
                    return self._fallback(mode, len(texts), pairs, known)
                worker = self._ensure_worker()
                try:
                    worker.send(
                        {
                            "op": "job",
                            "mode": mode,
                            "items": texts,
                            "pairs": pairs,
                            "known": [[i, j, v] for (i, j), v in known.items()],
                            "skip": sorted(skip),
                            "fast": self._fast,
                        }
                    )
                except OSError:  # died between jobs (e.g. killed from outside)
                    self._stats.crashes += 1
                    self._discard_worker()
                    continue
                current: list | None = None
                while True:
                    try:
                        msg = worker.recv(self.timeout_s)
                    except queue.Empty:
                        msg = _TIMEOUT
                    if msg is _TIMEOUT or msg is None:
                        if msg is _TIMEOUT:
                            self._stats.timeouts += 1
                        else:
                            self._stats.crashes += 1
                        self._discard_worker()
                        if current is None:  # stuck outside any tracked operation: give up on this job
                            return self._fallback(mode, len(texts), pairs, known)
                        if current[0] == "p":
                            skip.add(current[1])
                            if len(self._unparseable) < self._cache_size:
                                self._unparseable.add(keys[current[1]])
                        else:
                            i, j = current[1], current[2]
                            known[(i, j)] = False
                            self._remember(keys[i], keys[j], False)
                        # Often the timed-out verdict was the last one missing: finish
                        # here rather than paying for a worker restart now.
                        local = self._resolve_locally(
                            texts, mode, pairs, lambda i, j: False if {i, j} & skip else known.get((i, j))
                        )
                        if local is not None:
                            return local
                        break  # resend the job to a fresh worker
                    if "b" in msg:
                        current = msg["b"]
                        if current[0] == "p":
                            self._stats.parses += 1
                        else:
                            self._stats.comparisons += 1
                    elif "r" in msg:
                        i, j, verdict = msg["r"]
                        known[(i, j)] = verdict
                        self._remember(keys[i], keys[j], verdict)
                        current = None
                    elif "done" in msg:
                        return msg["done"]
        finally:
            self._stats.seconds_in_worker += time.perf_counter() - started

    @staticmethod
    def _fallback(mode: str, n: int, pairs: list[list[int]] | None, known: dict) -> list:
        # Only reachable if the worker hangs between tracked operations; answer
        # conservatively with what is known ("not equivalent" otherwise).
        if mode == "group":
            return [[i] for i in range(n)]
        return [known.get((min(i, j), max(i, j)), False) for i, j in pairs or []]
