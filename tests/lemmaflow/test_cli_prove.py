"""``lemmaflow prove`` end to end: options, bad input, and a tiny run on the embedded model that resumes."""

import json

import pytest

from .test_cli import lemmaflow


def test_help_and_bad_input(tmp_path, capsys):
    from lemmaflow.cli import main

    with pytest.raises(SystemExit) as e:
        main(["prove", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--dataset", "--attempts", "--library", "--limit", "--out", "--no-baseline", "--repair-rounds",
                 "--concurrency", "--max-attempt-tokens", "--method", "--samples", "--resumes"):
        assert flag in text
    assert main(["prove", "--dataset", "minif2f-lean:valid", "--out", str(tmp_path / "o")]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    assert main(["prove", "--problems", "no_such_problem", "--out", str(tmp_path / "o"),
                 "--library", str(tmp_path / "lib.db")]) == 2
    assert "no_such_problem" in capsys.readouterr().err
    assert not (tmp_path / "lib.db").exists()  # nothing opened or created for bad input


@pytest.mark.embedded
def test_prove_end_to_end_checkpoints_and_resumes(tmp_path):
    """One engine start (2 problems, 1 attempt, 32 tokens); the rerun resumes from the checkpoints.

    Resuming a half-finished job after kill -9 is tested on scripted answers with real Coq
    (tests/agents/proving/test_job.py), where it costs no engine start.
    """
    out, lib = tmp_path / "out", tmp_path / "lib.db"
    args = ["prove", "--dataset", "minif2f-coq:valid", "--attempts", "1", "--limit", "2", "--out", str(out),
            "--library", str(lib), "--embedder", "hashing-256", "--max-tokens", "32", "--repair-rounds", "0",
            "--no-progress"]
    first = lemmaflow(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    lines = (out / "attempts.jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in lines]
    attempts = [r for r in rows if r["kind"] == "attempt"]
    assert sorted((r["arm"], r["problem"]) for r in attempts) == sorted(
        (arm, p) for arm in ("library", "baseline") for p in {r["problem"] for r in attempts})
    assert len(attempts) == 4 and all(r["status"] == "ok" for r in attempts)
    assert all(0 < r["completion_tokens"] <= 2 * 32 for r in attempts)  # sketch + formal proof, tiny
    assert [r["kind"] for r in rows].count("evolve") == 2  # an evolver step after each library attempt
    report = json.loads((out / "report.json").read_text())
    assert report["problems"] == 2 and set(report["arms"]) == {"library", "baseline"}
    assert report["arms"]["library"]["attempts_run"] == 2 - report["arms"]["library"]["errors"]
    assert report["model"].startswith("SmolLM2")
    assert (out / "report.md").read_text().startswith("# lemmaflow prove: minif2f-coq:valid")
    assert "lemmaflow prove" in first.stdout and "| solved |" in first.stdout
    # the same command again resumes: every attempt is checkpointed, so no model starts and nothing is redone
    again = lemmaflow(*args)
    assert again.returncode == 0 and "nothing to do" in again.stderr
    assert (out / "attempts.jsonl").read_text().splitlines() == lines


@pytest.mark.embedded
def test_prove_whole_proof_method_on_the_embedded_model(tmp_path):
    """`prove --method whole_proof` on one miniF2F-Coq problem: real model, real Coq, one arm, tokens reported."""
    out = tmp_path / "out"
    r = lemmaflow("prove", "--method", "whole_proof", "--dataset", "minif2f-coq:valid", "--problems",
                  "mathd_algebra_109", "--attempts", "1", "--samples", "2", "--resumes", "1", "--max-tokens", "32",
                  "--out", str(out), "--library", str(tmp_path / "lib.db"), "--embedder", "hashing-256",
                  "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(x) for x in (out / "attempts.jsonl").read_text().splitlines()]
    assert [(x["kind"], x["arm"], x["problem"], x["status"]) for x in rows] == [
        ("attempt", "whole_proof", "mathd_algebra_109", "ok")]
    row = rows[0]
    assert row["samples_used"] == 2 and len(row["attempts"]) == 2 + row["resumes_used"]
    assert 0 < row["completion_tokens"] <= (2 + row["resumes_used"]) * 32 and row["tokens"] == row["completion_tokens"]
    report = json.loads((out / "report.json").read_text())
    assert list(report["arms"]) == ["whole_proof"] and report["method"] == "whole_proof"
    assert report["arms"]["whole_proof"]["completion_tokens"] == row["completion_tokens"]
    assert "method whole_proof" in r.stdout and "| solved per 1k tokens |" in r.stdout
