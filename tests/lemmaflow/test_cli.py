"""The CLI end to end on the real embedded model (a few problems, short outputs)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "problems" / "easy_arithmetic.jsonl"


def lemmaflow(*args, timeout=600, **kw):
    # In-process CLI calls of other tests (main([...])) quiet engine logs through os.environ;
    # a child CLI must start from the user's environment, not inherit that.
    if "env" not in kw:
        from lemmaflow.engine_logs import QUIET_ENV

        kw["env"] = {k: v for k, v in os.environ.items() if k not in QUIET_ENV}
    return subprocess.run([sys.executable, "-m", "lemmaflow", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, **kw)


def test_help_explains_every_subcommand():
    top = lemmaflow("--help")
    assert top.returncode == 0
    for sub in ("solve", "setup-model", "pipelines"):
        assert sub in top.stdout
    solve = lemmaflow("solve", "--help")
    for flag in ("--input", "--pipeline", "--n", "--backend", "--out", "--max-samples", "--trace",
                 "--max-completion-tokens", "--max-llm-calls", "--max-wall-s", "--sandbox"):
        assert flag in solve.stdout
    assert "resum" in solve.stdout.lower()


def test_bad_pipeline_is_a_clear_error(tmp_path):
    r = lemmaflow("solve", "--input", str(EXAMPLES), "--out", str(tmp_path / "o.jsonl"), "--pipeline", "nope")
    assert r.returncode == 2 and "no built-in pipeline 'nope'" in r.stderr


def test_no_valid_problems(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n{\"nothing\": 1}\n")
    r = lemmaflow("solve", "--input", str(bad), "--out", str(tmp_path / "o.jsonl"))
    assert r.returncode == 2
    assert "bad.jsonl:1" in r.stderr and "bad.jsonl:2" in r.stderr and "no valid problems" in r.stderr


@pytest.mark.embedded
def test_solve_end_to_end_with_bad_lines_and_resume(tmp_path):
    inp = tmp_path / "in.jsonl"
    rows = EXAMPLES.read_text().splitlines()[:3]
    inp.write_text("\n".join([rows[0], "{broken json", rows[1], '{"id": "x"}', rows[2]]) + "\n")
    out, trace = tmp_path / "out.jsonl", tmp_path / "trace.jsonl"
    args = ["solve", "--input", str(inp), "--out", str(out), "--pipeline", "sc", "--n", "2",
            "--max-tokens", "24", "--trace", str(trace), "--no-progress"]
    r = lemmaflow(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "in.jsonl:2" in r.stderr and "in.jsonl:4" in r.stderr  # bad lines reported by number
    results = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(x["id"] for x in results) == ["ex-add", "ex-apples", "ex-mul"]
    for x in results:
        assert x["status"] == "ok" and x["model"].startswith("SmolLM2")
        assert len(x["outputs"]["chains"]) == 2
        assert 0 < x["usage"]["total"]["completion_tokens"] <= 2 * 24
        assert isinstance(x["correct"], bool)
    assert "lemmaflow results" in r.stdout and "accuracy" in r.stdout
    events = [json.loads(x) for x in trace.read_text().splitlines()]
    assert {e["kind"] for e in events} >= {"node_start", "llm_call", "vote", "node_end"}
    # Same command again: everything is already done, nothing is generated.
    r2 = lemmaflow(*args)
    assert r2.returncode == 0
    assert "3 already done" in r2.stdout.replace("\n", " ")
    assert len(out.read_text().splitlines()) == 3


@pytest.mark.embedded
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupt_loses_at_most_in_flight_problems(tmp_path, sig):
    out = tmp_path / "out.jsonl"
    # Concurrency 1 makes problems finish one by one, so a kill lands between results.
    args = [sys.executable, "-m", "lemmaflow", "solve", "--input", str(EXAMPLES), "--out", str(out),
            "--pipeline", "sc", "--n", "2", "--max-tokens", "48", "--concurrency", "1", "--no-progress"]
    log = tmp_path / "solve.log"  # the interrupted run's output, shown if the exit code is wrong
    with log.open("w") as log_f:
        # SIG_DFL for SIGINT in the child: a shell's background job (`cmd &`, as in a fresh-clone
        # check) starts with SIGINT ignored, the child would inherit that and never see the Ctrl-C.
        proc = subprocess.Popen(args, cwd=ROOT, stdout=log_f, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if out.exists() and len(out.read_text().splitlines()) >= 2:
                break
            time.sleep(0.2)
        os.kill(proc.pid, sig)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    lines = out.read_text().splitlines()
    assert rc == (130 if sig == signal.SIGINT else -9), (rc, len(lines), log.read_text()[-3000:])
    before = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
    assert 2 <= len(before) < 8
    r = lemmaflow(*args[3:], "--concurrency", "4")
    assert r.returncode == 0, r.stderr[-2000:]
    after = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
    ids = [x["id"] for x in after]
    assert sorted(set(ids)) == sorted(json.loads(x)["id"] for x in EXAMPLES.read_text().splitlines())
    assert len(ids) == 8  # finished problems were not solved twice
    assert f"{len(before)} already done" in r.stdout.replace("\n", " ")


@pytest.mark.embedded
@pytest.mark.parametrize("pipeline", ["pot", "tora", "tora_sc", "dotamath"])
def test_tir_pipelines_end_to_end(tmp_path, pipeline):
    """The code-running pipelines through the CLI on the real model and the fork-server sandbox."""
    out, trace = tmp_path / "out.jsonl", tmp_path / "trace.jsonl"
    r = lemmaflow("solve", "--input", str(EXAMPLES), "--limit", "2", "--out", str(out), "--pipeline", pipeline,
                  "--n", "2", "--max-tokens", "96", "--trace", str(trace), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 2 and all(x["status"] == "ok" for x in rows)
    events = [json.loads(x) for x in trace.read_text().splitlines()]
    llm_calls = [e for e in events if e["kind"] == "llm_call"]
    assert llm_calls and all(e["completion_tokens"] > 0 for e in (c["data"] for c in llm_calls))
    if pipeline in ("tora", "tora_sc", "dotamath"):
        # Generation halts at code blocks: the stop sequences reached the engine.
        assert all("```output" in c["data"]["params"]["stop"] for c in llm_calls)
    # Whatever code the tiny model wrote ran in the sandbox, never here: each tool call has a verdict.
    for e in events:
        if e["kind"] == "tool_call":
            assert "ok" in e["data"]


@pytest.mark.embedded
def test_budget_flags_cap_each_problem(tmp_path):
    out = tmp_path / "out.jsonl"
    r = lemmaflow("solve", "--input", str(EXAMPLES), "--limit", "2", "--out", str(out), "--pipeline", "sc",
                  "--n", "4", "--max-tokens", "16", "--max-samples", "3", "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    for row in map(json.loads, out.read_text().splitlines()):
        assert row["status"] == "ok"
        assert row["outputs"]["samples_used"] == 3 and row["outputs"]["budget_limited"]
        assert row["usage"]["total"]["samples"] == 3
