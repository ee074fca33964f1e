"""Versions are part of a result: provers report them, library entries, reports and traces record them, and a
library built under one version never feeds lemmas to a run on another without saying so."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import textwrap

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.proving import LegoProver
from lemmaflow.agents.proving.job import JobMismatch, ProveJob, ProveJobConfig
from lemmaflow.agents.proving.library import VersionMismatch, add_verified, version_mismatch
from lemmaflow.skills_library import Entry
from lemmaflow.tools.provers import Prover
from lemmaflow.tools.provers.coqc import CoqcProver
from lemmaflow.tools.provers.lean import LeanProver
from lemmaflow.tools.provers.lean_repl import fake_repl_command
from lemmaflow.tools.provers.versions import lake_revision, parse_coq_version, parse_lean_version

from .conftest import ARITH, problem
from .prove_worker import LEMMA, answer, problems


class OtherVersion:
    """The same Coq under another reported version (as after an upgrade): checks go to the real prover."""

    language = "coq"

    def __init__(self, inner, versions):
        self.inner, self._versions = inner, versions

    def start(self):
        self.inner.start()

    def close(self):
        pass

    def check(self, task):
        return self.inner.check(task)

    async def acheck(self, task):
        return await self.inner.acheck(task)

    def versions(self):
        return dict(self._versions)


def test_coq_pool_and_coqc_report_coqs_version(coq):
    out = subprocess.run(["coqc", "--version"], capture_output=True, text=True).stdout
    expected = re.search(r"version (\S+)", out).group(1)
    assert coq.versions() == {"coq": expected} and re.fullmatch(r"\d+\.\d+\.\d+", expected)
    assert isinstance(coq, Prover)
    with CoqcProver() as coqc:
        assert coqc.versions() == {"coq": expected} and isinstance(coqc, Prover)
    assert parse_coq_version("The Coq Proof Assistant, version 8.16.1\ncompiled with OCaml 4.13.1") == "8.16.1"
    assert parse_coq_version("garbage") == "unknown"


def test_lean_versions_come_from_the_repl_and_the_lake_manifests(tmp_path):
    # a REPL checkout with its binary in .lake/build/bin (here: the double, answering #eval like the real REPL)
    repl_root = tmp_path / "repl"
    (repl_root / ".git" / "refs" / "heads").mkdir(parents=True)
    (repl_root / ".git" / "HEAD").write_text("ref: refs/heads/master\n")
    (repl_root / ".git" / "refs" / "heads" / "master").write_text("0123456789abcdef0123456789abcdef01234567\n")
    binary = repl_root / ".lake" / "build" / "bin" / "repl"
    binary.parent.mkdir(parents=True)
    binary.write_text(textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(fake_repl_command()[1].rsplit('/', 1)[0])!r})
        import lean_fake_repl as f
        real = f.FakeRepl.command
        def command(self, req):
            if req["cmd"].strip() == "#eval Lean.versionString":
                return {{"env": 0, "messages": [{{"severity": "info", "pos": {{"line": 1, "column": 0}},
                        "endPos": {{"line": 1, "column": 5}}, "data": '"4.15.0"'}}]}}
            return real(self, req)
        f.FakeRepl.command = command
        f.main()
        """))
    project = tmp_path / "mathproj"
    project.mkdir()
    (project / "lake-manifest.json").write_text(json.dumps({"version": 7, "packages": [
        {"name": "aesop", "rev": "aaaa", "inputRev": "master"},
        {"name": "mathlib", "rev": "fedcba9876543210", "inputRev": "v4.15.0"}]}))
    # Version reading, not confinement: as root a confined REPL runs under a uid of its own, which cannot
    # enter pytest's private (0700) tmp folders (docs/prover-confinement.md says what a project needs).
    with LeanProver(command=(sys.executable, str(binary)), cwd=str(project), pool_size=1, confine=False) as lean:
        v = lean.versions()
        assert set(v) == {"lean", "mathlib", "repl"} and v["lean"] == "4.15.0", v
        assert v["mathlib"].startswith("v4.15.0") and "0123456789ab" in v["repl"], v  # tag (and commit)
        assert isinstance(lean, Prover)
    with LeanProver(command=tuple(fake_repl_command()), pool_size=1) as lean:  # the plain double: no real Lean
        v = lean.versions()
        assert v["mathlib"] == v["repl"] == "unknown" and not re.fullmatch(r"\d+\.\d+\.\d+", v["lean"]), v
    assert parse_lean_version('"4.9.0-rc1"') == "4.9.0-rc1"
    (project / "lake-manifest.json").write_text(json.dumps({"packages": [{"name": "mathlib", "rev": "fedcba9876543210",
                                                                          "inputRev": "main"}]}))
    assert lake_revision(project / "lake-manifest.json", "mathlib") == "fedcba987654"


def test_version_mismatch_compares_every_component():
    e = Entry(kind="lemma", name="l", language="lean4", metadata={"versions": {"lean": "4.9.0", "mathlib": "a"}})
    assert version_mismatch(e, {"lean": "4.9.0", "mathlib": "a"}) == {}
    assert version_mismatch(e, {"lean": "4.9.0", "mathlib": "b"}) == {"mathlib": ("a", "b")}
    assert version_mismatch(Entry(kind="lemma", name="l", language="coq"), {"coq": "8.16.1"}) == {
        "coq": ("unrecorded", "8.16.1")}  # an older entry: cannot tell, so it differs
    assert version_mismatch(e, {}) == {}  # a prover that reports nothing: nothing to compare


P1 = "Theorem q1 (b : nat) : b + b + 1 = 2 * b + 1."


def lego_with(prover, store, policy):
    lm = ScriptedLM(lambda key, i: answer(key, i))
    ctx = RunContext(backend=lm, prover=prover, store=store, problem_id="q1")
    out = asyncio.run(LegoProver(sketch=False, repair_rounds=0, version_mismatch=policy)(
        ctx, name="q1", statement=P1, header=ARITH))
    return out, ctx


@pytest.fixture
def library(coq, store):
    """A library holding double_lf, verified under this machine's Coq."""
    lid = add_verified(store, name="double_lf", statement=LEMMA.split("\n")[0], source=LEMMA, header=ARITH,
                       evidence="coq: proved", versions=coq.versions(), problem_id="q0")
    assert store.get(lid).metadata["versions"] == coq.versions()
    return lid


def test_exclude_warn_and_error_on_a_library_of_another_version(coq, store, library):
    upgraded = OtherVersion(coq, {"coq": "8.17.0"})
    out, ctx = lego_with(upgraded, store, "exclude")  # default: not shown, but counted and traced
    assert out.retrieved == [] and out.version_mismatch == [library] and out.version_excluded and not out.proved
    ev = [e for e in ctx.trace.events if e.data.get("event") == "version_mismatch"]
    assert ev and ev[0].data["policy"] == "exclude" and ev[0].data["entries"][0]["versions"] == coq.versions()
    assert LegoProver.Config().version_mismatch == "exclude"
    out, ctx = lego_with(upgraded, store, "warn")  # shown (and re-checked as context), with the warning
    assert out.retrieved == [library] and out.version_mismatch == [library] and out.proved
    assert not out.version_excluded and any(e.data.get("event") == "version_mismatch" for e in ctx.trace.events)
    with pytest.raises(VersionMismatch, match="8.17.0"):
        lego_with(upgraded, store, "error")
    out, _ = lego_with(coq, store, "error")  # the same version: nothing to say
    assert out.retrieved == [library] and out.version_mismatch == [] and out.proved


def run_job(prover, store, out_dir, policy="exclude"):
    config = ProveJobConfig(baseline=False, evolve_every=0, prover=LegoProver.Config(
        sketch=False, repair_rounds=0, version_mismatch=policy))
    job = ProveJob(problems(3)[1:], ScriptedLM(answer), prover, store, out_dir, config, dataset="scripted")
    asyncio.run(job.run())
    return job, job.write_report()


def test_the_job_warns_in_report_and_trace_and_refuses_on_error(coq, store, library, tmp_path):
    upgraded = OtherVersion(coq, {"coq": "8.17.0"})
    job, report = run_job(upgraded, store, tmp_path / "a", "exclude")
    assert report["versions"] == {"coq": "8.17.0"}
    assert report["version_mismatch"]["library"] == {f"coq {coq.versions()['coq']}": 1}
    assert report["version_mismatch"]["excluded"] == [library] and report["version_mismatch"]["shown"] == []
    assert report["arms"]["library"]["solved"] == 0  # the other version's lemma was not used
    assert "NOT shown" in job.version_warning()
    md = (tmp_path / "a" / "report.md").read_text()
    assert "Prover: coq, coq 8.17.0" in md and "Warning: the library holds 1 lemmas verified under other" in md
    start = json.loads((tmp_path / "a" / "trace.jsonl").read_text().splitlines()[0])["data"]
    assert start["event"] == "prove_start" and start["versions"] == {"coq": "8.17.0"}
    assert start["library_version_mismatch"] == report["version_mismatch"]["library"] and start["warning"]
    job, report = run_job(upgraded, store, tmp_path / "b", "warn")
    assert report["version_mismatch"]["shown"] == [library] and report["arms"]["library"]["solved"] == 2
    assert "ARE shown" in job.version_warning() and "Warning" in (tmp_path / "b" / "report.md").read_text()
    with pytest.raises(VersionMismatch, match="refuses to run"):
        run_job(upgraded, store, tmp_path / "c", "error")
    # the same versions: no warning anywhere
    job, report = run_job(coq, store, tmp_path / "d", "error")
    assert report["version_mismatch"]["library"] == {} and job.version_warning() is None
    assert "Warning" not in (tmp_path / "d" / "report.md").read_text()


def test_a_job_is_not_resumed_under_other_versions(coq, store, tmp_path):
    ProveJob([problem("q1", P1)], None, coq, store, tmp_path / "out", dataset="scripted")
    with pytest.raises(JobMismatch, match="versions"):
        ProveJob([problem("q1", P1)], None, OtherVersion(coq, {"coq": "8.17.0"}), store, tmp_path / "out",
                 dataset="scripted")


def test_excluded_lemmas_do_not_crowd_out_the_runs_own(store):
    for i in range(12):  # an older library: many lemmas of another version rank above the run's own
        add_verified(store, name=f"old{i}_lf", statement=f"Lemma old{i}_lf (n : nat) : n + {i} = {i} + n.",
                     source=f"Lemma old{i}_lf (n : nat) : n + {i} = {i} + n.\nProof. apply Nat.add_comm. Qed.",
                     header=ARITH, evidence="", versions={"coq": "8.15.0"})
    new = add_verified(store, name="mine_lf", statement="Lemma mine_lf (m : nat) : 0 + m = m.",
                       source="Lemma mine_lf (m : nat) : 0 + m = m.\nProof. reflexivity. Qed.", header=ARITH,
                       evidence="", versions={"coq": "8.16.1"})
    from lemmaflow.agents.proving.library import retrieve_lemmas

    seen: list = []
    got = retrieve_lemmas(store, "n + 3 = 3 + n", ARITH, 1, versions={"coq": "8.16.1"}, version_policy="exclude",
                          mismatched=seen)
    assert [e.id for e in got] == [new] and len(seen) >= 3
