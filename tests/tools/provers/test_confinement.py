"""Every prover process runs confined: proof texts that write, read secrets, spawn or connect get nowhere.

Real Coq (``coqidetop``, ``coqc``) and the Lean REPL double in its test mode (``--unsafe-io``:
the double *performs* ``#eval IO...`` lines as a real Lean would), real bubblewrap. Where a deny-list
would refuse the text first (Coq's ``forbidden_command``, Lean's ``FORBIDDEN``), the test switches
it off: what is tested is the confinement. Each attack also runs once unconfined (``confine=False``)
to show that the very same text does reach the host there, so the confined assertions could fail.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from lemmaflow.sandboxes.program import ProgramConfinement, spawn_confined
from lemmaflow.tools.provers import ProofTask
from lemmaflow.tools.provers import coq_check, coq_tactics, lean_check
from lemmaflow.tools.provers._process import ProverConfinementUnavailable, kill_group
from lemmaflow.tools.provers.coq import CoqProver
from lemmaflow.tools.provers.coq_ide import CoqIdeSession, IdeFailure
from lemmaflow.tools.provers.coqc import CoqcProver
from lemmaflow.tools.provers.lean import LeanProver
from lemmaflow.tools.provers.lean_repl import LeanRepl, fake_repl_command

FAKE_IO = (*fake_repl_command(), "--unsafe-io")
PY = "/usr/bin/python3"
GOOD = ProofTask(name="t", statement="Theorem t (n : nat) : n + 0 = n.", proof="Proof. now rewrite <- plus_n_O. Qed.")


@pytest.fixture
def secrets(tmp_path, monkeypatch):
    """A fake $HOME with a key and a Coq file, a run store and a library db, each holding a secret."""
    token = f"SECRET-{uuid.uuid4().hex}"
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(token)
    (home / "secret.v").write_text(f'Definition leaked := "{token}".\n')
    runs = tmp_path / "runs"
    (runs / "prove").mkdir(parents=True)
    (runs / "prove" / "attempts.jsonl").write_text(json.dumps({"secret": token}) + "\n")
    db = sqlite3.connect(runs / "library.db")
    db.execute("create table t (s text)")
    db.execute("insert into t values (?)", (token,))
    db.commit()
    db.close()
    monkeypatch.setenv("HOME", str(home))
    out = tmp_path / "out"  # where the attacks try to write
    out.mkdir()
    return {"token": token, "home": home, "key": home / ".ssh" / "id_rsa", "coq": home / "secret.v",
            "store": runs / "prove" / "attempts.jsonl", "db": runs / "library.db", "out": out,
            "tmp_marker": Path("/tmp") / f"lemmaflow-pwned-{uuid.uuid4().hex}"}


@pytest.fixture
def listener():
    """A TCP listener on 127.0.0.1 that records every connection it gets."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    got: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    got.append(conn.recv(1024) or b"<connected>")
                except OSError:
                    got.append(b"<connected>")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1], got
    stop.set()
    t.join(2)
    srv.close()


def _snapshot(*roots: Path) -> set[str]:
    return {str(p) for r in roots for p in r.rglob("*")}


def _nothing_escaped(secrets, before: set[str]) -> None:
    after = _snapshot(secrets["home"].parent)
    assert after == before, f"new files outside the scratch space: {sorted(after - before)}"
    assert not secrets["tmp_marker"].exists() and not list(Path("/tmp").glob(secrets["tmp_marker"].name + "*"))
    assert not list(Path.cwd().glob("inside*")), "a relative write landed in the host's working directory"


# -- the mechanism itself ------------------------------------------------------------------------


def test_a_confined_program_cannot_write_read_connect_or_fork(secrets, listener):
    port, got = listener
    before = _snapshot(secrets["home"].parent)
    script = f"""
import json, os, socket
r = {{}}
def t(name, f):
    try:
        r[name] = ["ok", f()]
    except BaseException as e:
        r[name] = ["denied", type(e).__name__]
t("write_out", lambda: open({str(secrets["out"] / "pwned")!r}, "w").write("x"))
t("write_tmp", lambda: open({str(secrets["tmp_marker"])!r}, "w").write("x"))
t("write_etc", lambda: open("/etc/pwned", "w").write("x"))
t("read_key", lambda: open({str(secrets["key"])!r}).read())
t("read_store", lambda: open({str(secrets["store"])!r}).read())
t("read_db", lambda: open({str(secrets["db"])!r}, "rb").read().decode("latin-1"))
t("read_checkout", lambda: open({str(Path(__file__).resolve())!r}).read())
t("read_root", lambda: os.listdir("/root"))
t("connect", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"leak"))
t("fork", lambda: os.fork())
t("scratch", lambda: (open("inside", "w").write("ok"), open("inside").read())[1])
print(json.dumps(r))
"""
    proc = spawn_confined([PY, "-c", script], ProgramConfinement(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=60)
    kill_group(proc)
    r = json.loads(out.decode().strip().splitlines()[-1])
    for name in ("write_out", "write_tmp", "write_etc", "read_key", "read_store", "read_db", "read_checkout",
                 "read_root", "connect", "fork"):
        assert r[name][0] == "denied", (name, r[name])
    assert r["scratch"] == ["ok", "ok"]  # the one writable place
    assert secrets["token"] not in out.decode()
    time.sleep(0.3)
    assert got == []
    _nothing_escaped(secrets, before)


def test_memory_and_process_limits():
    script = """
import json, subprocess, sys
r = {}
try:
    b = bytearray(600 << 20); r["alloc"] = "ok"
except MemoryError:
    r["alloc"] = "denied"
kids = []
try:
    for _ in range(40):
        kids.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(20)"]))
    r["spawned"] = len(kids)
except OSError:
    r["spawned"] = len(kids)
for k in kids:
    k.kill()
print(json.dumps(r))
"""
    limits = ProgramConfinement(memory_mb=256, max_processes=16, allow_fork=True)
    proc = spawn_confined([PY, "-c", script], limits, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    kill_group(proc)
    r = json.loads(out.decode().strip().splitlines()[-1])
    assert r["alloc"] == "denied"  # RLIMIT_AS
    if os.geteuid() == 0:  # RLIMIT_NPROC of a uid of its own, and the pids cgroup: root hosts only
        assert r["spawned"] < 16, r


def test_killing_the_group_ends_the_program_and_everything_it_started():
    marker = f"lemmaflow-sleeper-{uuid.uuid4().hex}"
    script = ("import subprocess, sys, time; "
              f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', '{marker}']); time.sleep(300)")
    proc = spawn_confined([PY, "-c", script, marker], ProgramConfinement(allow_fork=True), stdout=subprocess.DEVNULL)
    time.sleep(1.0)

    def alive() -> list[int]:
        pids = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if marker.encode() in (d / "cmdline").read_bytes():
                        pids.append(int(d.name))
                except OSError:
                    pass
        return pids

    assert alive(), "the confined program did not start"
    kill_group(proc)
    deadline = time.monotonic() + 5
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive() == []


# -- Coq ------------------------------------------------------------------------------------------


def _run(ide: CoqIdeSession, state: int, text: str) -> tuple[bool, int, str]:
    """Add and execute one sentence; on failure rewind to ``state``. (ok, new state, error text)."""
    sid = ide.add(text, state, 60)
    if isinstance(sid, IdeFailure):
        return False, state, sid.text
    st = ide.status(60)
    if not st.ok:
        ide.edit_at(state, 30)
        return False, state, st.failure.text if st.failure else ""
    return True, sid, ""


def _coq_attacks(secrets) -> list[str]:
    out = secrets["out"]
    return [
        f'Redirect "{out}/pwned_redirect" Print nat.',
        f'Redirect "{secrets["tmp_marker"]}" Print nat.',
        f'Print Universes "{out}/pwned_universes".',
        "Require Extraction.",
        f'Extraction "{out}/pwned_extraction" nat.',
        f'Load "{secrets["coq"]}".',
        f'Cd "{secrets["home"]}".',
    ]


def test_coq_session_confined_stops_writes_and_reads_and_keeps_serving(secrets):
    before = _snapshot(secrets["home"].parent)
    ide = CoqIdeSession(confine=True)
    ide.start()
    try:
        state = ide.root
        results = {}
        for text in _coq_attacks(secrets):
            ok, state, err = _run(ide, state, text)
            results[text] = (ok, err)
        assert results["Require Extraction."][0]  # the plugin loads from the read-only view
        for text, (ok, err) in results.items():
            if text.startswith(("Redirect", "Print Universes", "Extraction", "Load", "Cd")):
                assert not ok, f"confined Coq ran {text!r}"
        ok, state, _ = _run(ide, state, "Print leaked.")
        assert not ok  # the secret file was never loaded
        assert secrets["token"] not in json.dumps(results)  # not even in an error message
        # Inside the scratch directory writing works (and vanishes with the session).
        ok, state, err = _run(ide, state, 'Redirect "inside" Print nat.')
        assert ok, err
        for sentence in ("Theorem t (n : nat) : n + 0 = n.", "Proof.", "now rewrite <- plus_n_O.", "Qed."):
            ok, state, err = _run(ide, state, sentence)
            assert ok, err
    finally:
        ide.close()
    _nothing_escaped(secrets, before)


def test_the_same_coq_text_does_reach_the_host_unconfined(secrets):
    ide = CoqIdeSession(confine=False)
    ide.start()
    try:
        ok, state, err = _run(ide, ide.root, f'Redirect "{secrets["out"]}/pwned_redirect" Print nat.')
        assert ok, err
        ok, state, err = _run(ide, state, f'Load "{secrets["coq"]}".')
        # Coq read the file: its content comes back in the error (a string without a scope)
        assert secrets["token"] in err
    finally:
        ide.close()
    assert (secrets["out"] / "pwned_redirect.out").exists()


def test_coq_cannot_start_programs_confined():
    """`Extraction TestCompile` runs ocamlfind: refused (no new processes), allowed unconfined."""
    verdicts = {}
    for confine in (True, False):
        ide = CoqIdeSession(confine=confine)
        ide.start()
        try:
            ok, state, err = _run(ide, ide.root, "Require Extraction.")
            assert ok, err
            ok, _, err = _run(ide, state, "Extraction TestCompile nat.")
            verdicts[confine] = (ok, err)
        finally:
            ide.close()
    assert verdicts[False][0], verdicts[False]
    assert not verdicts[True][0]


@pytest.fixture
def no_coq_denylist(monkeypatch):
    """Switch the first line off: what remains to stop the attack is the confinement."""
    monkeypatch.setattr(coq_check, "forbidden_command", lambda s: None)
    monkeypatch.setattr(coq_tactics, "forbidden_command", lambda s: None)


def _attack_task(secrets) -> ProofTask:
    out = secrets["out"]
    proof = (f'Redirect "{out}/pwned_pool" Print nat.\nPrint Universes "{out}/pwned_u".\n'
             f'Load "{secrets["coq"]}".\nProof. now rewrite <- plus_n_O. Qed.')
    return GOOD.model_copy(update={"proof": proof})


def test_warm_pool_confined_under_attack_and_still_proving(secrets, no_coq_denylist):
    before = _snapshot(secrets["home"].parent)
    with CoqProver(pool_size=1, preload="", timeout_s=60) as prover:
        assert prover.confined
        pid = prover.session_pids()[0]
        r = prover.check(_attack_task(secrets))
        assert not r.proved  # Redirect to a path that does not exist in the sandbox is an error
        assert prover.check(GOOD).proved
        assert prover.session_pids()[0] == pid and prover.restarts == 0  # the same warm session
    _nothing_escaped(secrets, before)


def test_denylist_refuses_the_same_attack_first(secrets):
    with CoqProver(pool_size=1, preload="", timeout_s=60) as prover:
        r = prover.check(_attack_task(secrets))
    assert r.status == "failed" and "forbidden command 'Redirect'" in r.reason


def test_coqc_confined_under_attack_and_still_proving(secrets, no_coq_denylist):
    before = _snapshot(secrets["home"].parent)
    prover = CoqcProver(timeout_s=60)
    assert prover.confined
    assert not prover.check(_attack_task(secrets)).proved
    inside = GOOD.model_copy(update={"proof": 'Redirect "inside" Print nat.\n' + GOOD.proof})
    assert prover.check(inside).proved  # a write inside the scratch space is fine
    assert prover.check(GOOD).proved
    _nothing_escaped(secrets, before)
    unconfined = CoqcProver(timeout_s=60, confine=False)
    unconfined.check(_attack_task(secrets))
    assert (secrets["out"] / "pwned_pool.out").exists()  # the attack is real


def test_tactic_session_confined_under_attack(secrets, no_coq_denylist):
    before = _snapshot(secrets["home"].parent)
    task = ProofTask(name="t", statement="Theorem t : 1 + 1 = 2.", proof="")
    with CoqProver(pool_size=1, preload="", timeout_s=60) as prover:
        with prover.tactic_session(task) as s:
            for tactic in (f'Redirect "{secrets["out"]}/pwned_tactic" Print nat.', f'Load "{secrets["coq"]}".'):
                assert s.run_tactic(s.root.proof_state, tactic).status == "error"
            assert s.run_tactic(s.root.proof_state, "reflexivity.").status == "solved"
    _nothing_escaped(secrets, before)


def test_tactic_session_denylist_is_a_first_line():
    task = ProofTask(name="t", statement="Theorem t : 1 + 1 = 2.", proof="")
    with CoqProver(pool_size=1, preload="", timeout_s=60) as prover:
        with prover.tactic_session(task) as s:
            r = s.run_tactic(s.root.proof_state, 'Redirect "/tmp/x" Print nat.')
    assert r.status == "error" and "forbidden command 'Redirect'" in r.error


# -- Lean (the REPL double performing #eval IO in its test mode) ----------------------------------


def _lean_attacks(secrets, port: int) -> str:
    out = secrets["out"]
    connect = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'leak')"
    lines = [
        f'#eval IO.FS.writeFile "{out}/pwned_lean" "x"',
        f'#eval IO.FS.writeFile "{secrets["tmp_marker"]}" "x"',
        f'#eval IO.FS.readFile "{secrets["key"]}"',
        f'#eval IO.FS.readFile "{secrets["store"]}"',
        f'#eval IO.FS.readFile "{secrets["db"]}"',
        f'#eval IO.Process.run {{ cmd := "{PY}", args := #["-c", {json.dumps(connect)}] }}',
        f'#eval IO.Process.run {{ cmd := "sh", args := #["-c", "echo x > {out}/pwned_sh"] }}',
        '#eval IO.FS.writeFile "inside" "ok"',
        '#eval IO.FS.readFile "inside"',
    ]
    return "\n".join(lines)


def test_lean_repl_confined_stops_io_and_keeps_serving(secrets, listener):
    port, got = listener
    before = _snapshot(secrets["home"].parent)
    with LeanRepl(FAKE_IO) as repl:
        r = repl.command(_lean_attacks(secrets, port))
        by_line = {m.pos.line: m for m in r.messages}
        for line in range(1, 8):  # every attack failed
            assert by_line[line].severity == "error", (line, by_line[line])
        assert 8 not in by_line  # writing inside the scratch works (a unit #eval prints nothing)
        assert by_line[9].severity == "info" and by_line[9].data == '"ok"'
        assert secrets["token"] not in json.dumps([m.data for m in r.messages])
        assert repl.command("theorem t : 1 = 1 := rfl").errors == []
    time.sleep(0.3)
    assert got == []
    _nothing_escaped(secrets, before)


def test_lean_runs_in_its_project_read_only(tmp_path):
    """The REPL starts in the project (where `lake env` must run): readable, not writable."""
    project = tmp_path / "mathproj"
    (project / ".lake").mkdir(parents=True)
    (project / "lakefile.lean").write_text("-- the project")
    before = _snapshot(project)
    with LeanRepl(FAKE_IO, cwd=str(project)) as repl:
        r = repl.command('#eval IO.FS.readFile "lakefile.lean"\n#eval IO.FS.writeFile ".lake/x" "y"')
    assert [(m.severity, m.pos.line) for m in r.messages] == [("info", 1), ("error", 2)]
    assert r.messages[0].data == '"-- the project"'
    assert _snapshot(project) == before


def test_the_same_lean_text_does_reach_the_host_unconfined(secrets, listener):
    port, got = listener
    with LeanRepl(FAKE_IO, confine=False) as repl:
        r = repl.command(_lean_attacks(secrets, port))
    assert (secrets["out"] / "pwned_lean").exists() and (secrets["out"] / "pwned_sh").exists()
    assert any(secrets["token"] in m.data for m in r.messages)
    time.sleep(0.3)
    assert got == [b"leak"]
    (Path.cwd() / "inside").unlink(missing_ok=True)
    secrets["tmp_marker"].unlink(missing_ok=True)


def test_lean_prover_confined_under_attack_and_still_proving(secrets, listener, monkeypatch):
    monkeypatch.setattr(lean_check, "FORBIDDEN", ())  # the first line off: confinement must hold
    port, got = listener
    before = _snapshot(secrets["home"].parent)
    statement = "theorem t (x : Nat) : x + 0 = x"
    with LeanProver(command=FAKE_IO, pool_size=1, timeout_s=30) as prover:
        assert prover.confined
        attack = ProofTask(name="t", statement=statement, proof="  simp\n" + _lean_attacks(secrets, port))
        prover.check(attack)  # whatever the verdict
        assert prover.check(ProofTask(name="t", statement=statement, proof="  simp")).proved
    time.sleep(0.3)
    assert got == []
    _nothing_escaped(secrets, before)


# -- unavailable confinement, explicit opt-out ----------------------------------------------------


@pytest.fixture
def no_bwrap(tmp_path, monkeypatch):
    """A PATH with Coq and Python but no bubblewrap."""
    import shutil

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("coqidetop.opt", "coqidetop", "coqc", "python3"):
        found = shutil.which(name)
        if found:
            (bin_dir / name).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))


@pytest.mark.parametrize("make", [
    lambda: CoqProver(pool_size=1, preload=""),
    lambda: CoqcProver(),
    lambda: LeanProver(command=tuple(fake_repl_command()), pool_size=1),
], ids=["coq-pool", "coqc", "lean"])
def test_no_confinement_is_a_clear_typed_error(no_bwrap, make):
    prover = make()
    with pytest.raises(ProverConfinementUnavailable) as e:
        prover.start()
    prover.close()
    msg = str(e.value)
    assert "apt-get install bubblewrap" in msg and "confine=False" in msg and "--unconfined-prover" in msg


def test_the_explicit_opt_out_runs_without_bwrap(no_bwrap):
    with CoqProver(pool_size=1, preload="", confine=False) as prover:
        assert not prover.confined
        assert prover.check(GOOD).proved
    assert CoqcProver(confine=False).check(GOOD).proved
    with LeanProver(command=tuple(fake_repl_command()), pool_size=1, confine=False) as lean:
        assert not lean.confined
        assert lean.check(ProofTask(name="t", statement="theorem t (x : Nat) : x + 0 = x", proof="  simp")).proved


def test_the_checkout_stays_hidden_though_the_double_runs_from_it():
    """Only the double's own file is bound from the (hidden) checkout, not the tree around it."""
    with LeanRepl(FAKE_IO) as repl:
        r = repl.command(f'#eval IO.FS.readFile "{Path(__file__).resolve()}"')
    assert [m.severity for m in r.messages] == ["error"]


def test_denylist_covers_context_lemmas_too():
    """Library lemmas were model output once: the same first line applies to them."""
    task = GOOD.model_copy(update={"context": ('Lemma l : True. Proof. Redirect "/tmp/x" Print nat. exact I. Qed.',)})
    with pytest.raises(coq_check.PlanError, match="forbidden command 'Redirect' in a context lemma"):
        coq_check.build_plan(task)


# -- the opt-out is recorded: trace, prove job rows and report, CLI ------------------------------


@pytest.mark.parametrize("confine", [True, False])
def test_the_opt_out_is_recorded_in_the_trace_rows_and_report(tmp_path, confine):
    import asyncio

    from lemmaflow.agents.context import RunContext
    from lemmaflow.skills_library import HashingEmbedder, open_store
    from tests.agents.proving.prove_worker import make_job

    with CoqProver(pool_size=1, preload="", confine=confine) as coq, \
            open_store(tmp_path / "lib.db", embedder=HashingEmbedder(64)) as store:
        ctx = RunContext(backend=None, prover=coq)
        events = [e for e in ctx.trace.of_kind("info") if e.data.get("event") == "prover_unconfined"]
        assert len(events) == (0 if confine else 1)
        job = make_job(str(tmp_path / "out"), store, coq, n=1, attempts=1, baseline=False, evolve_every=0)
        asyncio.run(job.run())
        report = job.write_report()
    rows = [json.loads(x) for x in (tmp_path / "out" / "attempts.jsonl").read_text().splitlines()]
    assert rows and all(r["prover_confined"] is confine for r in rows if r["kind"] == "attempt")
    assert json.loads((tmp_path / "out" / "job.json").read_text())["prover_confined"] is confine
    assert report["prover_confined"] is confine and report["arms"]["library"]["solved"] == 1
    md = (tmp_path / "out" / "report.md").read_text()
    assert ("UNCONFINED" in md) is (not confine)


def test_cli_unconfined_prover_flag_is_printed_in_the_report(tmp_path, capsys):
    from lemmaflow.cli import main
    from lemmaflow.cli_prove import load_dataset

    name = load_dataset("minif2f-coq:valid")[0].name
    out = tmp_path / "out"
    out.mkdir()
    # a finished job: the CLI reports without starting a model
    (out / "attempts.jsonl").write_text(json.dumps({"key": f"library/1/{name}", "kind": "attempt", "arm": "library",
                                                    "attempt": 1, "problem": name, "status": "ok",
                                                    "proved": False}) + "\n")
    args = ["prove", "--limit", "1", "--attempts", "1", "--no-baseline", "--out", str(out), "--library",
            str(tmp_path / "lib.db"), "--embedder", "hashing-64", "--pool-size", "1", "--no-progress"]
    assert main([*args, "--unconfined-prover"]) == 0
    captured = capsys.readouterr()
    assert "--unconfined-prover" in captured.err and "UNCONFINED" in captured.out
    assert json.loads((out / "report.json").read_text())["prover_confined"] is False
    assert main(args) == 0  # the default is confined
    assert "UNCONFINED" not in capsys.readouterr().out


def test_no_user_namespaces_is_explained(monkeypatch):
    """A bwrap that cannot create namespaces (the kernel refuses them): the error says what to enable."""
    import shutil

    import tempfile

    # reachable by the unprivileged uid a root host runs bwrap as (pytest's tmp_path is 0700)
    bin_dir = Path(tempfile.mkdtemp(prefix="lemmaflow-fake-bwrap-"))
    bin_dir.chmod(0o755)
    fake = bin_dir / "bwrap"
    fake.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'bubblewrap 0.8.0'; exit 0; fi\n"
                    "echo 'bwrap: No permissions to creat new namespace, likely because the kernel does not allow "
                    "non-privileged user namespaces.' >&2\nexit 1\n")
    fake.chmod(0o755)
    (bin_dir / "coqidetop.opt").symlink_to(shutil.which("coqidetop.opt") or shutil.which("coqidetop"))
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    try:
        with pytest.raises(ProverConfinementUnavailable) as e:
            CoqProver(pool_size=1, preload="").start()
    finally:
        shutil.rmtree(bin_dir, ignore_errors=True)
    msg = str(e.value)
    assert "No permissions to creat new namespace" in msg and "user namespaces" in msg and "confine=False" in msg
