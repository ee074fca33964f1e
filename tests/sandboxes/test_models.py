"""Unit tests that need no sandbox: models, wire format, helpers."""

from __future__ import annotations

import os
import struct

import pytest
from pydantic import ValidationError

from lemmaflow.sandboxes import (
    ExecResult,
    Executor,
    ForkServerExecutor,
    Job,
    Limits,
    SandboxCrashed,
    SandboxError,
    SandboxUnavailable,
    make_executor,
)
from lemmaflow.sandboxes._child import run_cell
from lemmaflow.sandboxes._confine import own_signal_filter
from lemmaflow.sandboxes._fsview import compute_view, toolkit_paths
from lemmaflow.sandboxes._protocol import FrameError, FrameReader, encode_frame, read_frame, write_frame
from lemmaflow.sandboxes._server import _Capture


def test_job_defaults_come_from_limits():
    job = Job(code="1").resolved(Limits(timeout_s=3, memory_mb=100, output_limit_bytes=999))
    assert (job.timeout_s, job.memory_mb, job.output_limit_bytes) == (3.0, 100, 999)
    job = Job(code="1", timeout_s=1.5).resolved(Limits())
    assert job.timeout_s == 1.5


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/../../x", ""])
def test_job_rejects_escaping_file_names(name):
    with pytest.raises(ValidationError):
        Job(code="", files={name: "x"})


def test_job_wire_encodes_files_as_base64():
    wire = Job(code="pass", files={"a.txt": "hé", "b.bin": b"\x00\xff"}).wire(Limits())
    assert wire["files"] == {"a.txt": "aMOp", "b.bin": "AP8="}
    assert wire["limits"]["cpu_s"] == 11.0 and wire["session"] is None


def test_limits_are_validated():
    with pytest.raises(ValidationError):
        Limits(timeout_s=0)
    with pytest.raises(ValidationError):
        Limits(unknown=1)


def test_exec_result_ok_and_wire():
    r = ExecResult.from_wire({"stdout": "2\n", "exit_code": 0, "op": "result", "id": 3}, "x")
    assert r.ok and r.backend == "x"
    assert not ExecResult(exit_code=0, killed_by="timeout").ok
    with pytest.raises(ValidationError):
        ExecResult(killed_by="bogus")


def test_errors_hierarchy():
    assert issubclass(SandboxUnavailable, SandboxError) and issubclass(SandboxCrashed, SandboxError)


def test_make_executor_kinds_and_protocol():
    ex = make_executor("forkserver", pool_size=1)
    assert isinstance(ex, ForkServerExecutor) and isinstance(ex, Executor)
    with pytest.raises(ValueError):
        make_executor("chroot")  # type: ignore[arg-type]


def test_frames_roundtrip_and_incremental():
    r, w = os.pipe()
    write_frame(w, {"a": [1, "é"]})
    assert read_frame(r) == {"a": [1, "é"]}
    data = encode_frame({"x": 1}) + encode_frame({"y": 2})
    reader = FrameReader()
    assert reader.feed(data[:5]) == []
    assert reader.feed(data[5:]) == [{"x": 1}, {"y": 2}]
    with pytest.raises(FrameError):
        FrameReader(max_frame=10).feed(struct.pack(">I", 11))
    os.close(r)
    os.close(w)


def test_capture_keeps_head_and_tail_with_marker():
    cap = _Capture(100)
    cap.feed(b"A" * 60 + b"B" * 1000 + b"C" * 20)
    text, cut = cap.text("stdout")
    assert cut and text.startswith("A" * 60) and text.endswith("C" * 20)
    assert "[stdout truncated: 980 bytes omitted]" in text
    small = _Capture(100)
    small.feed(b"hello")
    assert small.text("stdout") == ("hello", False)


def test_run_cell_repl_semantics(capsys):
    glb: dict = {"__name__": "__main__"}
    assert run_cell("x = 2\nx * 21", glb, "<job>", 100)["value"] == "42"
    assert run_cell("x = 3", glb, "<job>", 100)["value"] is None
    assert run_cell("None", glb, "<job>", 100)["value"] is None
    res = run_cell("'a' * 50", glb, "<job>", 10)
    assert res["value"].startswith("'aaaaaaaaa") and "truncated" in res["value"]
    res = run_cell("def f():\n    return 1/0\nf()", glb, "<job>", 100)
    assert res["exit_code"] == 1 and res["error"] == "ZeroDivisionError: division by zero"
    err = capsys.readouterr().err
    assert 'File "<job>", line 3' in err and "_child" not in err
    assert run_cell("raise SystemExit(4)", glb, "<job>", 100)["exit_code"] == 4
    assert run_cell("x = (", glb, "<job>", 100)["error"].startswith("SyntaxError")


def test_signal_filter_is_well_formed():
    prog = own_signal_filter(1234, {"arch": 0xC000003E, "kill": 62, "tgkill": 234})
    assert len(prog) % 8 == 0
    insns = [struct.unpack("=HBBI", prog[i : i + 8]) for i in range(0, len(prog), 8)]
    for i, (code, jt, jf, _k) in enumerate(insns):
        if code == 0x15:  # every jump lands inside the program
            assert i + 1 + jt < len(insns) and i + 1 + jf < len(insns)
    assert insns[-1][0] == 0x06 and insns[-1][3] == 0x7FFF0000


def test_view_hides_the_toolkit():
    import lemmaflow
    import lemmaflow.sandboxes

    view = compute_view()
    under = lambda p, roots: any(p == r or p.startswith(r + "/") for r in roots)  # noqa: E731
    for src in (lemmaflow.__file__, lemmaflow.sandboxes.__file__):
        src = os.path.realpath(src)
        # never visible: not below a bind, or covered by a hidden (empty) mount
        assert not under(src, view.binds) or under(src, view.hidden), src
    for h in toolkit_paths():
        assert h not in view.binds and not any(under(h, [b]) and h not in view.hidden for b in view.binds)
    assert "/usr" in view.binds
    assert not any(under(b, [view.work_root]) for b in view.binds)
