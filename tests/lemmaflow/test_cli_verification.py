"""The fobar and sc_verified pipelines through `lemmaflow solve` on the real embedded model (2 problems, n=2)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "problems" / "easy_arithmetic.jsonl"


def solve(tmp_path, pipeline, *sets):
    out, trace = tmp_path / f"{pipeline}.jsonl", tmp_path / f"{pipeline}.trace.jsonl"
    args = ["solve", "--input", str(EXAMPLES), "--limit", "2", "--out", str(out), "--pipeline", pipeline,
            "--n", "2", "--max-tokens", "48", "--trace", str(trace), "--no-progress"]
    for s in sets:
        args += ["--set", s]
    r = subprocess.run([sys.executable, "-m", "lemmaflow", *args], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    events = [json.loads(x) for x in trace.read_text().splitlines()]
    assert len(rows) == 2 and all(x["status"] == "ok" and isinstance(x["correct"], bool) for x in rows)
    return rows, events


@pytest.mark.embedded
def test_fobar_pipeline_end_to_end(tmp_path):
    # Backward runs even on a unanimous forward vote here, and truncated chains keep their last
    # number, so the tiny model's short chains still produce candidates to check.
    rows, events = solve(tmp_path, "fobar", "fobar.abstain_on_truncated=false",
                         "fobar.mask=first", "fobar.m=2", "fobar.skip_unanimous=false")
    ran = [x for x in rows if x["outputs"]["backward_skipped"] is None]
    assert ran, [x["outputs"]["backward_skipped"] for x in rows]
    for x in ran:
        out, usage = x["outputs"], x["usage"]
        n_pairs = len(out["backward"])
        assert n_pairs == len([c for c in out["candidates"] if c["p_b"] is not None])
        assert all(len(b["answers"]) == 2 for b in out["backward"])
        back = usage["per_node"]["fobar/backward"]
        assert back["samples"] == 2 * n_pairs and 0 < back["completion_tokens"] <= 48 * 2 * n_pairs
        assert usage["total"]["samples"] == 2 + 2 * n_pairs == out["samples_used"]
        assert usage["total"]["completion_tokens"] == (usage["per_node"]["fobar/forward"]["completion_tokens"]
                                                       + back["completion_tokens"])
    assert any(e["kind"] == "score" and e["data"]["check"] == "fobar_backward" for e in events)


@pytest.mark.embedded
def test_sc_verified_pipeline_end_to_end(tmp_path):
    scorer = {"type": "step_verifier", "model": "verifier", "aggregate": "min", "max_tokens": 24}
    rows, events = solve(tmp_path, "sc_verified", "sc.abstain_on_truncated=false", f"sc.scorer={json.dumps(scorer)}")
    judged = 0
    for x in rows:
        out, usage = x["outputs"], x["usage"]
        assert len(out["chains"]) == 2 and len(out["weights"]) == 2
        assert all(0.0 <= w <= 1.0 for w in out["weights"])
        ver = usage["per_model"].get("verifier")
        if ver:
            judged += 1
            assert ver["completion_tokens"] > 0 and ver["samples"] >= 1
            assert usage["total"]["completion_tokens"] == (usage["per_model"]["generator"]["completion_tokens"]
                                                           + ver["completion_tokens"])
    assert judged >= 1  # the judge ran (and was booked under its role) on at least one problem
    assert any(e["kind"] == "score" for e in events)
