"""The Lean REPL client and double against the real REPL's own transcripts (leanprover-community/repl
test/*.in + *.expected.out, copied in data/lean_repl/ with their commit): Lean's JSON layout reproduced
byte for byte, the real answers parsed by the client (replayed by a recording process), and the double's
answers to the same requests shaped like the real ones (identical where its semantics cover them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lemmaflow.tools.provers.lean_fake_repl import render_json
from lemmaflow.tools.provers.lean_repl import (
    CommandResponse,
    LeanRepl,
    ReplDead,
    ReplMessage,
    ReplRequestError,
    fake_repl_command,
)

DATA = Path(__file__).parent / "data" / "lean_repl"
NAMES = sorted(p.name[: -len(".in")] for p in DATA.glob("*.in"))
# requests whose meaning the double's tiny semantics covers: its answers are the REPL's, byte for byte
IDENTICAL = ["assumption_proof", "dup_sorries", "have_by_sorry", "invalid_tactic", "tactic_mode_sorry",
             "tactic_sorry", "term_sorry", "unknown_environment", "unknown_proof_state", "unknown_tactic"]

REPLAY = r"""
import os, sys, time
chunk = int(os.environ.get("REPLAY_CHUNK", "0"))  # write answers a few bytes at a time
answers = [a for a in open(sys.argv[1], encoding="utf-8").read().split("\n\n") if a.strip()]
lines, i = [], 0
for line in sys.stdin:
    if line.strip():
        lines.append(line)
        continue
    if lines:
        data = answers[i] + "\n\n"  # the recorded bytes, as the REPL printed them
        for k in range(0, len(data), chunk or len(data)):
            sys.stdout.write(data[k: k + (chunk or len(data))])
            sys.stdout.flush()
            if chunk:
                time.sleep(0.001)
        lines, i = [], i + 1
"""


def chunks(text: str) -> list[str]:
    return [c for c in text.split("\n\n") if c.strip()]


def requests(name: str) -> list[dict]:
    return [json.loads(c) for c in chunks((DATA / f"{name}.in").read_text(encoding="utf-8"))]


def answers(name: str) -> list[str]:
    return [c.strip("\n") for c in chunks((DATA / f"{name}.expected.out").read_text(encoding="utf-8"))]


def test_fixtures_are_there():
    assert len(NAMES) >= 15 and set(IDENTICAL) <= set(NAMES)
    for name in NAMES:
        assert len(requests(name)) == len(answers(name)), name


@pytest.mark.parametrize("name", NAMES)
def test_the_double_renders_json_exactly_as_lean_does(name):
    for text in answers(name):
        assert render_json(json.loads(text)) == text


def test_rendering_follows_lean_layout_rules():
    assert render_json({"env": 0}) == '{"env": 0}'
    assert render_json({"a": [], "b": {"c": None}}) == '{"b": {"c": null}, "a": []}'  # keys descending
    long = {"goals": ["x" * 90]}
    assert render_json(long) == '{"goals":\n ["' + "x" * 90 + '"]}'  # past 80 columns: breaks after the key
    assert render_json({"data": "tab\there \"q\" \\"}) == '{"data": "tab\\u0009here \\"q\\" \\\\"}'


@pytest.fixture
def replay(tmp_path):
    script = tmp_path / "replay.py"
    script.write_text(REPLAY, encoding="utf-8")
    started: list[LeanRepl] = []

    def start(name: str, chunk: int = 0) -> LeanRepl:
        repl = LeanRepl([sys.executable, str(script), str(DATA / f"{name}.expected.out")],
                        env_vars={"REPLAY_CHUNK": str(chunk)})
        repl.start()
        started.append(repl)
        return repl

    yield start
    for r in started:
        r.close()


def _send(repl: LeanRepl, req: dict):
    if "tactic" in req:
        return repl.tactic(req["proofState"], req["tactic"])
    return repl.command(req["cmd"], env=req.get("env"))


def _pos(p):
    return None if p is None else {"line": p.line, "column": p.column}


@pytest.mark.parametrize("name", NAMES)
def test_the_client_reads_every_real_answer(replay, name):
    repl = replay(name)
    for req, text in zip(requests(name), answers(name)):
        raw = json.loads(text)
        if "message" in raw:
            with pytest.raises(ReplRequestError) as err:
                _send(repl, req)
            assert str(err.value) == raw["message"]
            continue
        got = _send(repl, req)
        for m, r in zip(got.messages, raw.get("messages", []), strict=True):
            assert (m.severity, m.data, _pos(m.pos), _pos(m.end_pos)) == (r["severity"], r["data"], r["pos"],
                                                                          r.get("endPos"))
        for s, r in zip(got.sorries, raw.get("sorries", []), strict=True):
            assert (s.goal, s.proof_state, _pos(s.pos)) == (r["goal"], r.get("proofState"), r.get("pos"))
        if "tactic" in req:
            assert (got.proof_state, got.goals, got.proof_status) == (raw["proofState"], raw["goals"],
                                                                      raw["proofStatus"])
            assert got.completed == (raw["proofStatus"] == "Completed")
            assert got.traces == raw.get("traces", [])
        else:
            assert got.env == raw["env"]
            # the sorry warning reads "declaration uses `sorry`" (backticks) in current releases
            assert got.uses_sorry == bool(raw.get("sorries"))


def test_readme_session_status_through_the_client(replay):
    repl = replay("readme")
    first = repl.command("def f (x : Unit) : Nat := by sorry")
    assert first.uses_sorry and first.messages[0].data == "declaration uses `sorry`"
    step = repl.tactic(0, "apply Int.natAbs")
    assert step.goals == ["x : Unit\n⊢ Int"] and step.completed is False
    done = repl.tactic(1, "exact -37")
    assert done.goals == [] and done.completed and done.proof_status == "Completed"


def test_empty_goals_are_not_a_proof_in_real_answers(replay):
    # app_type_mismatch: `apply ?succ` leaves no goals, and the REPL says the proof is not complete
    repl = replay("app_type_mismatch")
    for req in requests("app_type_mismatch")[:-1]:
        _send(repl, req)
    last = _send(repl, requests("app_type_mismatch")[-1])
    assert last.goals == [] and last.proof_status == "Incomplete: contains metavariable(s)"
    assert last.completed is False and not last.errors and not last.uses_sorry


# -- the double ------------------------------------------------------------------
COMMAND_KEYS = {"env", "messages", "sorries", "tactics", "infotree"}
TACTIC_KEYS = {"proofState", "goals", "messages", "sorries", "traces", "proofStatus"}
STATUSES = ("Completed", "Incomplete: open goals remain", "Incomplete: contains metavariable(s)",
            "Incomplete: contains sorry", "Error: kernel type check failed: ", "Error: ")


def shape(answer: dict, request: dict) -> list[str]:
    """Why ``answer`` is not shaped like a REPL answer to ``request`` ([] when it is)."""
    bad = []
    if "message" in answer:
        return [] if set(answer) == {"message"} and isinstance(answer["message"], str) else ["error answer"]
    keys = TACTIC_KEYS if "tactic" in request else COMMAND_KEYS
    if not set(answer) <= keys:
        bad.append(f"keys {sorted(set(answer) - keys)}")
    required = {"proofState", "goals", "proofStatus"} if "tactic" in request else {"env"}
    if not required <= set(answer):
        bad.append(f"missing {sorted(required - set(answer))}")
    if "tactic" in request and not str(answer.get("proofStatus")).startswith(STATUSES):
        bad.append(f"proofStatus {answer.get('proofStatus')!r}")
    for key in ("messages", "sorries", "traces"):
        if key in answer and not answer[key]:
            bad.append(f"empty {key} (the REPL leaves it out)")
    for m in answer.get("messages", []):
        if not {"severity", "pos", "data"} <= set(m) <= {"severity", "pos", "endPos", "data"}:
            bad.append(f"message keys {sorted(m)}")
        if m["severity"] not in ("info", "warning", "error", "trace"):
            bad.append(f"severity {m['severity']}")
    for s in answer.get("sorries", []):
        if not {"goal", "proofState"} <= set(s) <= {"goal", "proofState", "pos", "endPos"}:
            bad.append(f"sorry keys {sorted(s)}")
        if ("pos" in s) == ("tactic" in request):  # tactic-mode sorries have no position, command ones do
            bad.append("sorry position")
    return bad


def run_double(name: str) -> str:
    text = (DATA / f"{name}.in").read_text(encoding="utf-8")
    out = subprocess.run(fake_repl_command(), input=text + "\n\n", capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("name", NAMES)
def test_real_answers_and_double_answers_have_the_same_shape(name):
    reqs = requests(name)
    real = [json.loads(a) for a in answers(name)]
    assert all(shape(a, r) == [] for a, r in zip(real, reqs)), [shape(a, r) for a, r in zip(real, reqs)]
    text = run_double(name)
    mine = chunks(text)
    assert len(mine) == len(reqs)
    for chunk, req, ref in zip(mine, reqs, real):
        answer = json.loads(chunk)
        assert shape(answer, req) == [], (req, answer)
        assert chunk.strip("\n") == render_json(answer)  # Lean's layout, several lines when long
        assert ("message" in answer) == ("message" in ref) or name not in IDENTICAL


@pytest.mark.parametrize("name", IDENTICAL)
def test_where_the_double_knows_the_request_it_answers_the_real_bytes(name):
    assert [c.strip("\n") for c in chunks(run_double(name))] == answers(name)


def test_bad_input_makes_the_double_exit_like_the_repl():
    for bad in ('{"cmd": 3}', "not json at all"):
        out = subprocess.run(fake_repl_command(), input=bad + "\n\n", capture_output=True, text=True, timeout=30)
        assert out.returncode == 1 and out.stdout == ""
        assert out.stderr.startswith("uncaught exception: {\"message\": \"Could not parse")
    # the client reports it as a dead REPL, with what the REPL said
    with LeanRepl(fake_repl_command()) as repl:
        with pytest.raises(ReplDead, match="uncaught exception.*Could not parse"):
            repl.request({"cmd": 3})
        assert not repl.alive


def test_input_starting_with_a_comment_gets_no_answer():
    out = subprocess.run(fake_repl_command(), input='# a comment\n\n{"cmd": "def f := 1"}\n\n',
                         capture_output=True, text=True, timeout=30)
    assert out.stdout == '{"env": 0}\n\n'


def test_pickled_environments_come_back_under_a_new_id(tmp_path):
    # The protocol of pickling to a host path: unconfined, because a confined REPL can write nowhere
    # but its scratch directory (tests/tools/provers/test_confinement.py shows that it cannot).
    with LeanRepl(fake_repl_command(), confine=False) as repl:
        env = repl.command("theorem t : 1 = 1 := rfl").env
        path = tmp_path / "env.olean"
        assert repl.request({"pickleTo": str(path), "env": env}) == {"env": env}
        back = repl.request({"unpickleEnvFrom": str(path)})["env"]
        assert back != env and "already been declared" in repl.command("theorem t : 2 = 2 := rfl", env=back).errors[0].data
        root = repl.command("theorem u (p q : Prop) (hp : p) (hq : q) : p ∧ q := by sorry").sorries[0].proof_state
        split = repl.tactic(root, "constructor")
        saved = repl.request({"pickleTo": str(tmp_path / "ps.olean"), "proofState": split.proof_state})
        assert saved["proofStatus"] == "Incomplete: open goals remain" and saved["goals"] == split.goals
        loaded = repl.request({"unpickleProofStateFrom": str(tmp_path / "ps.olean")})
        assert loaded["proofState"] not in (root, split.proof_state) and loaded["goals"] == split.goals
        done = repl.tactic(loaded["proofState"], "exact hp\nexact hq")
        assert done.completed
        with pytest.raises(ReplRequestError, match="Unknown proof State"):
            repl.request({"pickleTo": str(tmp_path / "x"), "proofState": 10_000})


def test_both_sorry_warning_wordings_count_as_sorry():
    for data in ("declaration uses `sorry`", "declaration uses 'sorry'"):
        r = CommandResponse(env=0, messages=[ReplMessage(severity="warning", data=data)])
        assert r.uses_sorry
    assert not CommandResponse(env=0, messages=[ReplMessage(severity="info", data="f : Nat")]).uses_sorry


def test_answers_split_across_reads_are_framed_at_the_blank_line(replay):
    # 3 bytes per write: blank lines, braces and UTF-8 characters (⊢) fall across reads
    repl = replay("proof_step", chunk=3)
    reqs, raw = requests("proof_step"), [json.loads(a) for a in answers("proof_step")]
    got = [_send(repl, r) for r in reqs]
    assert got[0].env == 0 and got[0].sorries[0].goal == raw[0]["sorries"][0]["goal"]
    assert [g.goals for g in got[1:]] == [r["goals"] for r in raw[1:]]
    assert [g.proof_status for g in got[1:]] == [r["proofStatus"] for r in raw[1:]]


def test_print_axioms_output_wrapped_over_lines_is_read():
    from lemmaflow.tools.provers.lean_check import parse_print_axioms

    # recent Lean wraps long axiom lists and prints the full name
    out = "'Ns.Sub.c' depends on axioms: [propext,\n Classical.choice,\n Quot.sound]"
    assert parse_print_axioms(out, "c") == ["propext", "Classical.choice", "Quot.sound"]
