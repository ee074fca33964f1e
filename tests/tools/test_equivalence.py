"""Tests for lemmaflow.tools.answers.equivalence (AnswerChecker) on real and tricky answers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from lemmaflow.tools.answers import AnswerChecker, canonical_key, extract_answer
from lemmaflow.tools.datasets import grade

EQUAL = [
    (r"\frac12", "0.5"),
    ("0.5", r"\frac{1}{2}"),
    (r"\dfrac{1}{2}", r"\frac12"),
    ("1/2", r"\frac{1}{2}"),
    ("1,000", "1000"),
    (r"10\text{ cm}", "10"),
    (r"\text{(B)}", "B"),
    (r"\text{(B)}", "(B)"),
    ("x=3", "3"),
    ("3.0", "3"),
    ("-0", "0"),
    (r"55^\circ", "55"),
    (r"\$18.90", "18.9"),
    (r"\text{Evelyn}", "evelyn"),
    ("0.3333333", r"\frac{1}{3}"),  # float tolerance (relative 1e-6)
    (r"1\frac{4}{5}", r"\frac{9}{5}"),  # mixed number
    (r"11,\! 111,\! 111,\! 100", "11111111100"),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\frac{\pi}{2})"),
    # decided by math-verify (not by the key)
    (r"\sqrt{4}", "2"),
    (r"\frac{\sqrt{8}}{2}", r"\sqrt{2}"),
    ("x^2+2x+1", "(x+1)^2"),
    (r"\{1,2\}", r"\{2,1\}"),
    (r"-2 \le x \le 7", "[-2,7]"),  # verify() accepts this in one direction only
    (r"1 \pm \sqrt{19}", r"\{1+\sqrt{19}, 1-\sqrt{19}\}"),
    (r"\begin{pmatrix} 1/5 \\ -18/5 \end{pmatrix}", r"\begin{pmatrix} 0.2 \\ -3.6 \end{pmatrix}"),
    ("6 - 5i", "6-5i"),
    (r"2\pi", r"\pi \cdot 2"),
    (r"\frac{\pi}{6}", r"\frac{1}{6}\pi"),
    ("(3,4]", r"\left(3, 4\right]"),
]

NOT_EQUAL = [
    ("1/2", "2"),
    (r"\sqrt{2}", "2"),
    ("(1,2)", "(2,1)"),
    ("(1,2,3)", "(3,2,1)"),
    ("-3", "3"),
    ("0.5", "-0.5"),
    (r"-\frac{1}{2}", r"\frac{1}{2}"),
    ("1000000", "1000001"),  # integers compare exactly, never with a relative tolerance
    ("1000000.5", "1000000"),
    ("3.14", r"\pi"),
    (r"\frac{1}{3}", "0.33"),
    ("(3,4]", "(3,4)"),
    ("[-2,7]", "(-2,7)"),
    (r"\text{(B)}", r"\text{(C)}"),
    ("4343_6", "4343"),  # math-verify drops the base; we do not
    ("x+1", "x-1"),
    ("2x+3", "-5"),
    ("5x - 7y + 11z + 4 = 0", "0"),  # math-verify alone would unwrap the equation to its rhs
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix} 2 \\ 1 \end{pmatrix}"),
    (r"\infty", r"-\infty"),
    ("i", "1"),
    (r"\text{east}", r"\text{west}"),
    ("6+9i", "6-9i"),
    (r"(-\infty, 2) \cup (3, \infty)", r"(-\infty, 2] \cup [3, \infty)"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equal_pairs(checker: AnswerChecker, a: str, b: str) -> None:
    assert checker.equivalent(a, b)
    assert checker.equivalent(b, a)  # symmetric


@pytest.mark.parametrize(("a", "b"), NOT_EQUAL)
def test_not_equal_pairs(checker: AnswerChecker, a: str, b: str) -> None:
    assert not checker.equivalent(a, b)
    assert not checker.equivalent(b, a)


def test_batched_pairs_match_single_calls(checker: AnswerChecker) -> None:
    pairs = EQUAL + NOT_EQUAL
    assert checker.equivalent_many(pairs) == [True] * len(EQUAL) + [False] * len(NOT_EQUAL)


def test_ambiguous_extraction_never_matches(checker: AnswerChecker) -> None:
    e = extract_answer("The answer is 7 or 8")
    assert e.abstained and e.answer is None
    assert not grade(e.answer, "7", checker)
    assert not grade(e.answer, "8", checker)


def test_malformed_answers_do_not_raise(checker: AnswerChecker) -> None:
    junk = [r"\frac{1}{2", r"\frac{1}{2}", "}{", r"\sqrt{", "", "   ", r"\begin{pmatrix} 1 \\", "((", r"\frac{1}{2"]
    classes = checker.group(junk)
    assert sorted(i for c in classes for i in c) == list(range(len(junk)))
    assert [0, 8] in classes  # identical spellings still group
    assert not checker.equivalent(r"\frac{1}{2", r"\frac{1}{2}")
    assert not checker.equivalent("}{", "0")


def test_canonical_key_groups_trivial_rewrites_without_worker() -> None:
    fresh = AnswerChecker()
    try:
        assert len({fresh.canonical_key(s) for s in [r"\frac12", "0.5", r"\dfrac{1}{2}", "1/2", "$0.50$."]}) == 1
        assert fresh.canonical_key("1,000") == fresh.canonical_key("1000") == "num:1000"
        assert fresh.canonical_key("1/2") != fresh.canonical_key("2")
        assert fresh.group(["3", "3.0", "x=3", "4", "$4$", "1,000", "1000"]) == [[0, 1, 2], [3, 4], [5, 6]]
        assert fresh.equivalent("1,000", "1000") and not fresh.equivalent("1000", "1001")
        assert fresh.stats.worker_starts == 0  # nothing needed math-verify
    finally:
        fresh.close()


def test_group_is_one_round_trip_and_cached(checker: AnswerChecker) -> None:
    answers = ["2", r"\sqrt{4}", r"\frac{4}{2}", "3", r"\sqrt{9}", r"\sqrt{5}", "2.0", r"\frac{\sqrt{20}}{2}"]
    before = checker.stats.worker_jobs
    assert checker.group(answers) == [[0, 1, 2, 6], [3, 4], [5, 7]]
    assert checker.stats.worker_jobs == before + 1
    assert checker.group(answers) == [[0, 1, 2, 6], [3, 4], [5, 7]]
    assert checker.stats.worker_jobs == before + 1  # verdicts came from the cache
    assert checker.group([]) == [] and checker.group(["5"]) == [[0]]


def test_gsm8k_all_golds(checker: AnswerChecker, gsm8k) -> None:
    """Every GSM8K gold equals itself (also from a boxed wrapper) and differs from gold+1."""
    golds = [p.gold for p in gsm8k]
    assert len(golds) == 1319 and all(re.fullmatch(r"-?\d+", g) for g in golds)
    wrapped = [extract_answer(f"... so the answer is \\boxed{{{g}}}").answer for g in golds]
    assert all(checker.equivalent_many([(g, g) for g in golds]))
    assert all(checker.equivalent_many(list(zip(golds, wrapped))))
    assert not any(checker.equivalent_many([(g, str(int(g) + 1)) for g in golds]))
    # Grouping all golds gives exactly one class per distinct value.
    classes = checker.group(golds)
    assert len(classes) == len({int(g) for g in golds})
    assert all(len({int(golds[i]) for i in c}) == 1 for c in classes)


def test_math500_all_golds_via_fast_path(checker: AnswerChecker, math500) -> None:
    golds = [p.gold for p in math500]
    wrapped = [extract_answer(f"... so the answer is \\boxed{{{g}}}").answer for g in golds]
    assert all(checker.equivalent_many([(g, g) for g in golds]))
    assert all(checker.equivalent_many(list(zip(golds, wrapped))))


def test_math500_all_golds_via_math_verify(math500) -> None:
    """With the fast path off, math-verify itself must accept every gold as equal to
    itself and to a re-spaced spelling (intervals, sets, matrices, equations included)."""
    golds = [p.gold for p in math500]
    # Spaces around operators, brackets and list commas (not thousands commas: "58,500").
    respaced = [re.sub(r"\s*(\+|-|=|\\cup|\\pm|\(|\)|\[|\]|,(?!\\!|\d{3}\b))\s*", r" \1 ", g) for g in golds]
    assert sum(a != b for a, b in zip(golds, respaced)) > 50  # the rewrite really changes many
    with AnswerChecker(timeout_s=20.0, fast_path=False) as slow:
        assert slow.equivalent_many([(g, g) for g in golds]) == [True] * len(golds)
        verdicts = slow.equivalent_many(list(zip(golds, respaced)))
        assert [g for g, ok in zip(golds, verdicts) if not ok] == []
        assert slow.stats.timeouts == 0 and slow.stats.parses > 250


def test_math500_distinct_golds_stay_distinct(checker: AnswerChecker, math500) -> None:
    """Neighbouring golds with different keys must not collapse (except known set/tuple cases)."""
    golds = [p.gold for p in math500]
    pairs = [(a, b) for a, b in zip(golds, golds[1:]) if canonical_key(a) != canonical_key(b)]
    assert len(pairs) > 400
    assert [p for p, same in zip(pairs, checker.equivalent_many(pairs)) if same] == []


# -- timeouts, threads, lifecycle ------------------------------------------------------

# Symbolic expansion of (x+1)^2000 inside verify() runs for minutes.
SLOW = "(x+1)^{2000}"


def test_timeout_kills_and_restarts_worker() -> None:
    with AnswerChecker(timeout_s=0.5) as c:
        c.start()
        first = c._worker.proc  # noqa: SLF001 - checking the real process is killed
        t0 = time.monotonic()
        assert c.equivalent(SLOW, "(x-1)^{2000}") is False
        assert time.monotonic() - t0 < 10
        assert c.stats.timeouts == 1
        assert first.poll() is not None  # the hung worker is gone
        # The checker keeps working (a fresh worker is started on demand) ...
        assert c.equivalent(r"\sqrt{4}", "2")
        assert c.stats.worker_starts == 2
        # ... and remembers the timed-out verdict instead of hanging again.
        assert c.equivalent(SLOW, "(x-1)^{2000}") is False
        assert c.stats.timeouts == 1


def test_timeout_inside_group_from_worker_thread() -> None:
    result: list = []
    errors: list = []

    def run() -> None:
        try:
            result.append(c.group(["2", SLOW, r"\sqrt{4}", "(x-1)^{2000}", r"\frac{6}{3}"]))
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    with AnswerChecker(timeout_s=0.5) as c:
        t = threading.Thread(target=run)
        t.start()
        t.join(60)
        assert not t.is_alive() and errors == []
        assert result == [[[0, 2, 4], [1], [3]]]
        assert c.stats.timeouts == 1


def test_worker_killed_mid_job_recovers() -> None:
    """A worker that dies (OOM killer, kill -9) mid-comparison: counted, verdict False, next call fine."""
    with AnswerChecker(timeout_s=60.0) as c:
        c.start()
        proc = c._worker.proc  # noqa: SLF001
        threading.Timer(1.0, proc.kill).start()
        t0 = time.monotonic()
        assert c.equivalent(SLOW, "(x-1)^{2000}") is False
        assert time.monotonic() - t0 < 30  # did not wait for the 60 s timeout
        assert (c.stats.crashes, c.stats.timeouts) == (1, 0)
        assert c.equivalent(r"\sqrt{9}", "3")
        assert c.stats.worker_starts == 2


def test_concurrent_threads_share_one_checker(checker: AnswerChecker) -> None:
    cases = [(r"\sqrt{9}", "3", True), (r"\sqrt{8}", r"2\sqrt{2}", True), ("(1,2)", "(2,1)", False)] * 4
    out: dict[int, bool] = {}
    threads = [
        threading.Thread(target=lambda i=i, a=a, b=b: out.__setitem__(i, checker.equivalent(a, b)))
        for i, (a, b, _) in enumerate(cases)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [out[i] for i in range(len(cases))] == [want for _, _, want in cases]


def test_close_and_context_manager() -> None:
    c = AnswerChecker()
    with c:
        c.start()
        proc = c._worker.proc  # noqa: SLF001
        assert proc.poll() is None
    assert proc.wait(timeout=10) is not None
    with pytest.raises(RuntimeError, match="closed"):
        c.equivalent(r"\sqrt{4}", "2")


def test_worker_killed_at_interpreter_exit(tmp_path) -> None:
    script = textwrap.dedent(
        """
        from lemmaflow.tools.answers import AnswerChecker
        checker = AnswerChecker()
        checker.start()
        print(checker._worker.proc.pid, flush=True)
        # no close(): interpreter exit must clean up
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"worker {pid} outlived its parent")


def test_invalid_timeout() -> None:
    with pytest.raises(ValueError):
        AnswerChecker(timeout_s=0)
