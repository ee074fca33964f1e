"""Equal-compute bench on a scripted model: table numbers, Wilson intervals, SC matching, resume."""

import asyncio
import json
import math

import pytest

from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.bench import (
    Bench, BenchPipeline, ScCost, matched_sc_n, plot_report, render_markdown, summarize, wilson_interval,
)
from lemmaflow.agents.batch import ProblemResult
from lemmaflow.cli import resolve_pipeline
from lemmaflow.tools.datasets import Problem

Z = 1.959964


def wilson_reference(k, n, z=Z):
    # The textbook form: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
    p = k / n
    a = p + z * z / (2 * n)
    b = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (a - b) / (1 + z * z / n), (a + b) / (1 + z * z / n)


@pytest.mark.parametrize("k,n", [(0, 4), (4, 4), (3, 10), (50, 100), (1, 1)])
def test_wilson_interval_matches_the_formula(k, n):
    lo, hi = wilson_interval(k, n)
    rlo, rhi = wilson_reference(k, n)
    assert lo == pytest.approx(max(0.0, rlo), abs=1e-12) and hi == pytest.approx(min(1.0, rhi), abs=1e-12)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_wilson_known_values():
    # 0 of n: upper bound z²/(n+z²); 50/100: the well-known [0.4038, 0.5962].
    assert wilson_interval(0, 4)[1] == pytest.approx(Z * Z / (4 + Z * Z))
    lo, hi = wilson_interval(50, 100)
    assert (round(lo, 4), round(hi, 4)) == (0.4038, 0.5962)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def _result(i, correct, prompt, completion, samples, status="ok"):
    return ProblemResult(
        key=f"k{i}", id=f"p{i}", question="q", gold="1", correct=correct, status=status, model="m", pipeline="x",
        usage={"total": {"prompt_tokens": prompt, "completion_tokens": completion, "samples": samples,
                         "total_tokens": prompt + completion}},
    )


def test_summarize_and_sc_cost():
    res = [_result(0, True, 10, 30, 3), _result(1, False, 20, 50, 5), _result(2, None, 30, 10, 1, "error")]
    row = summarize("x", res)
    assert (row.problems, row.graded, row.correct, row.failed) == (3, 2, 1, 1)
    assert row.accuracy == 0.5 and row.ci == wilson_interval(1, 2)
    assert row.mean_tokens == pytest.approx((40 + 70 + 40) / 3)
    assert row.mean_completion_tokens == pytest.approx(30) and row.mean_samples == pytest.approx(3)
    cost = ScCost.measure(res)
    assert cost.prompt_per_problem == pytest.approx(20) and cost.completion_per_sample == pytest.approx(90 / 9)
    # tokens(n) = 20 + 10 n: 95 tokens -> n = 7.5 -> 8 (round half to even), clamped to [1, max_n].
    assert matched_sc_n(95, cost) == 8 and matched_sc_n(5, cost) == 1 and matched_sc_n(10_000, cost, max_n=16) == 16
    with pytest.raises(ValueError, match="no samples"):
        ScCost.measure([_result(0, None, 0, 0, 0)])


# A scripted model with a known cost: every chain-of-thought/SC sample is
# "w w w w w w \boxed{A}" (7 whitespace tokens). Problem i's right answer is i;
# the model answers i on even problems, i+1 on odd ones.
def _script(prompt, i):
    q = int(prompt.split("Q")[-1].split()[0])
    return "w w w w w w \\boxed{%d}" % (q if q % 2 == 0 else q + 1)


PROBLEMS = [Problem(id=f"p{i}", question=f"Q{i} what?", gold=str(i), source="t") for i in range(5)]


def _bench(lm, checker, tmp_path, pipelines):
    return Bench(
        [BenchPipeline(label, resolve_pipeline(name, overrides)) for label, name, overrides in pipelines],
        sc_pipeline=lambda n: resolve_pipeline("sc", {"n": n}), sc_reference_n=2, backend=lm, checker=checker,
        out_dir=tmp_path,
    )


def test_bench_rows_match_and_resume(checker, tmp_path):
    lm = ScriptedLM(_script)
    pipes = [("cot", "cot", {}), ("sc6", "sc", {"n": 6})]
    report = asyncio.run(_bench(lm, checker, tmp_path, pipes).run(PROBLEMS))
    rows = {r.label: r for r in report.rows}
    # 3 of 5 problems (0, 2, 4) are answered right by every pipeline: the answer never depends on the sample.
    for r in report.rows:
        assert (r.problems, r.graded, r.correct, r.failed) == (5, 5, 3, 0), r
        assert r.ci == wilson_interval(3, 5)
    cot, sc6, ref = rows["cot"], rows["sc6"], rows["sc@2"]
    assert ref.kind == "sc_reference" and cot.kind == sc6.kind == "pipeline"
    assert cot.mean_completion_tokens == 7 and sc6.mean_completion_tokens == 42 and ref.mean_completion_tokens == 14
    assert sc6.mean_tokens == sc6.mean_prompt_tokens + 42
    # SC's measured cost: P = the prompt's tokens, C = 7 per sample.
    assert report.sc_cost.completion_per_sample == 7
    assert report.sc_cost.prompt_per_problem == ref.mean_prompt_tokens
    # cot spends P_cot + 7; SC matched to it draws round((P_cot + 7 - P_sc) / 7) samples.
    n_cot = max(1, round((cot.mean_tokens - ref.mean_prompt_tokens) / 7))
    matched = [r for r in report.rows if r.kind == "sc_matched"]
    assert [(r.label, r.matched_to) for r in matched] == [(f"sc@{n_cot}", ["cot"])]
    assert abs(matched[0].mean_tokens - cot.mean_tokens) <= 7 / 2 + 1e-9  # within half a sample
    # sc6 is SC itself: its matched n is 6, i.e. its own spec, so it is annotated, not run again.
    assert sc6.matched_to == ["sc6"] and sc6.target_tokens == sc6.mean_tokens
    calls = len(lm.calls)
    md = render_markdown(report)
    assert "| cot | pipeline | 3/5 | 60.0% |" in md and f"[{wilson_interval(3, 5)[0]:.1%}" in md
    # Resume: the same bench again generates nothing and reports the same numbers.
    lm2 = ScriptedLM(_script)
    report2 = asyncio.run(_bench(lm2, checker, tmp_path, pipes).run(PROBLEMS))
    assert lm2.calls == [] and report2.model_dump() == report.model_dump()
    assert calls > 0
    # A result file per pipeline, one line per problem (nothing appended by the rerun).
    for r in report.rows:
        lines = open(r.results_path).read().splitlines()
        assert len(lines) == 5 and {json.loads(x)["id"] for x in lines} == {p.id for p in PROBLEMS}


def test_bench_resume_after_partial_run(checker, tmp_path):
    """A run that stopped after 2 problems: the rerun solves only the other 3."""
    lm = ScriptedLM(_script)
    asyncio.run(_bench(lm, checker, tmp_path, [("cot", "cot", {})]).run(PROBLEMS[:2]))
    lm2 = ScriptedLM(_script)
    report = asyncio.run(_bench(lm2, checker, tmp_path, [("cot", "cot", {})]).run(PROBLEMS))
    solved = {k.split("Q")[-1].split()[0] for keys, _ in lm2.calls for k in keys}
    assert solved == {"2", "3", "4"}
    assert report.rows[0].problems == 5


def test_bench_rejects_duplicate_labels(checker, tmp_path):
    p = resolve_pipeline("cot", {})
    with pytest.raises(ValueError, match="unique"):
        Bench([BenchPipeline("a", p), BenchPipeline("a", p)], sc_pipeline=None, backend=ScriptedLM(["x"]),
              checker=checker, out_dir=tmp_path)


def test_plot_is_a_non_blank_png(checker, tmp_path):
    from PIL import Image

    report = asyncio.run(_bench(ScriptedLM(_script), checker, tmp_path, [("cot", "cot", {})]).run(PROBLEMS[:2]))
    path = plot_report(report, tmp_path / "bench.png")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 400
        colors = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colors) > 50  # axes, labels, markers: not a blank canvas
