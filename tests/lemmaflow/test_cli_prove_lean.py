"""``lemmaflow prove --dataset minif2f-lean4:valid`` end to end: the CLI on the shipped Lean REPL double
($LEMMAFLOW_LEAN_REPL), a scripted model behind a local OpenAI-compatible server on 127.0.0.1, real SQLite;
killed with SIGKILL mid-run and resumed. The double proves nothing: this tests the job, not Lean."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from lemmaflow.tools.provers.lean import LeanProver
from lemmaflow.tools.provers.lean_repl import fake_repl_command

from ..agents.backends.flaky_server import Script, serve
from ..agents.proving.lean_script import HELPER, NAMES, answer_for
from .test_cli import ROOT


def scripted(path: str, body: dict) -> dict:
    time.sleep(0.2)  # a slow model, so the kill lands mid-run
    prompt = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
    text = answer_for(prompt)
    return {"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}}


def cli(url: str, out, lib, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lemmaflow", "prove", "--dataset", "minif2f-lean4:valid", "--problems", *NAMES,
            "--attempts", "1", "--out", str(out), "--library", str(lib), "--embedder", "hashing-256",
            "--no-sketch", "--repair-rounds", "0", "--evolve-every", "0", "--no-progress",
            "--backend", "openai", "--base-url", f"{url}/v1", "--model", "scripted-lean", *extra]


def env() -> dict:
    return {**os.environ, "LEMMAFLOW_LEAN_REPL": " ".join(fake_repl_command()), "PYTHONPATH": str(ROOT)}


def test_prove_lean_resumes_after_kill_9(tmp_path):
    out, lib = tmp_path / "out", tmp_path / "lib.db"
    rows_path = out / "attempts.jsonl"
    with serve(Script([], respond=scripted)) as url:
        proc = subprocess.Popen(cli(url, out, lib), cwd=ROOT, env=env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while time.time() < deadline:
            if rows_path.exists() and len(rows_path.read_text().splitlines()) >= 2:
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = rows_path.read_text()
        done = [json.loads(x)["key"] for x in before.splitlines() if x.strip().endswith("}")]
        assert 2 <= len(done) < 6, "killed too late to test resuming"
        run_id = json.loads((out / "job.json").read_text())["run_id"]
        again = subprocess.run(cli(url, out, lib), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    with LeanProver(command=tuple(fake_repl_command()), pool_size=1) as double:
        versions = double.versions()  # what the double reports (no real Lean's version)
    assert "prover: " + ", ".join(f"{k} {v}" for k, v in versions.items()) in " ".join(again.stderr.split())
    after = rows_path.read_text()
    assert after.startswith(before.rstrip("\n"))  # nothing rewritten
    keys = [json.loads(x)["key"] for x in after.splitlines() if x.strip()]
    assert sorted(keys) == sorted(f"{arm}/1/{n}" for arm in ("library", "baseline") for n in NAMES)
    assert json.loads((out / "job.json").read_text())["run_id"] == run_id
    report = json.loads((out / "report.json").read_text())
    assert report["language"] == "lean4" and report["dataset"] == "minif2f-lean4:valid"
    # dataset order: amc12a_2015_p10 comes before the problem that proves the helper, so it fails (1 attempt)
    assert report["arms"]["library"]["solved_problems"] == ["mathd_algebra_182", "mathd_numbertheory_780"]
    assert report["arms"]["baseline"]["solved_problems"] == ["mathd_algebra_182"]
    assert report["arms"]["baseline"]["prompt_tokens"] > 0  # the baseline arm ran at the same settings
    assert "| solved | 2/3 | 1/3 |" in again.stdout and HELPER in (out / "report.md").read_text()
    starts = [json.loads(x) for x in (out / "trace.jsonl").read_text().splitlines() if '"prove_start"' in x]
    assert len(starts) == 2 and starts[0]["data"]["versions"] == versions == report["versions"]


def test_prove_lean_without_a_repl_says_what_to_install(tmp_path):
    e = {k: v for k, v in env().items() if k != "LEMMAFLOW_LEAN_REPL"}
    r = subprocess.run(cli("http://127.0.0.1:9", tmp_path / "o", tmp_path / "lib.db"), cwd=ROOT, env=e,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Lean is not available" in r.stderr and "LEMMAFLOW_LEAN_REPL" in r.stderr


def old_lemma(lib) -> None:
    from lemmaflow.agents.proving.library import add_verified
    from lemmaflow.skills_library import HashingEmbedder, open_store
    from lemmaflow.tools.provers.minif2f_lean import load_minif2f_lean

    header = load_minif2f_lean("valid")[0].header
    with open_store(lib, embedder=HashingEmbedder(256)) as store:
        add_verified(store, name=HELPER, statement=f"theorem {HELPER} (y : ℂ) : 7 * (3 * y + 2) = 21 * y + 14",
                     source=f"theorem {HELPER} (y : ℂ) : 7 * (3 * y + 2) = 21 * y + 14 := by\n  ring", header=header,
                     evidence="", language="lean4",
                     versions={"lean": "4.9.0", "mathlib": "v4.9.0", "repl": "v4.9.0"})  # not the double's


def test_prove_lean_says_when_the_library_is_of_other_versions(tmp_path):
    lib = tmp_path / "lib.db"
    old_lemma(lib)
    refused = subprocess.run(cli("http://127.0.0.1:9", tmp_path / "o1", lib, "--version-mismatch", "error"),
                             cwd=ROOT, env=env(), capture_output=True, text=True, timeout=120)
    said = " ".join(refused.stderr.split())  # rich wraps long lines
    assert refused.returncode == 2 and "refuses to run" in said and "lean 4.9.0" in said
    with serve(Script([], respond=scripted)) as url:
        r = subprocess.run(cli(url, tmp_path / "o2", lib), cwd=ROOT, env=env(), capture_output=True, text=True,
                           timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    said = " ".join(r.stderr.split())  # rich wraps long lines
    assert "warning: the library holds 1 verified lean4 lemmas of other prover versions" in said
    assert "NOT shown" in said and "library lemmas of other prover versions left out" in said
    report = json.loads((tmp_path / "o2" / "report.json").read_text())
    assert report["version_mismatch"]["library"] == {"lean 4.9.0, mathlib v4.9.0, repl v4.9.0": 1}
    # the old lemma was not shown: amc12a_2015_p10 (first in the dataset) cannot use it, as without a library
    assert "amc12a_2015_p10" not in report["arms"]["library"]["solved_problems"]


def test_the_same_cli_path_on_coq_records_coqs_version(tmp_path):
    """minif2f-coq through the same path (scripted answers that prove nothing): the prover and its version."""
    args = ["--dataset", "minif2f-coq:valid", "--limit", "1"]
    with serve(Script([], respond=scripted)) as url:
        cmd = cli(url, tmp_path / "out", tmp_path / "lib.db")
        cmd = cmd[:4] + args + cmd[cmd.index("--attempts"):]  # swap the dataset and problems
        r = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    coq = subprocess.run(["coqc", "--version"], capture_output=True, text=True).stdout.split("version ")[1].split()[0]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["language"] == "coq" and report["versions"] == {"coq": coq}
    assert f"prover: coq {coq}" in r.stderr and f"Prover: coq, coq {coq}" in r.stdout
    assert report["arms"]["library"]["attempts_run"] == 1 and report["arms"]["baseline"]["attempts_run"] == 1
