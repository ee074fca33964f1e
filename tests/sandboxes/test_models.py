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


def test_huge_page_candidates_are_aligned_dense_anonymous_chunks():
    from lemmaflow.sandboxes._hugepages import HUGE, PAGE, _anon_ranges, dense_chunks

    base = 0x7F0000000000
    maps = "\n".join([
        f"{base:x}-{base + 5 * HUGE + PAGE:x} rw-p 00000000 00:00 0 ",          # anonymous: 5 whole chunks
        f"{base + 8 * HUGE + PAGE:x}-{base + 10 * HUGE:x} rw-p 00000000 00:00 0 ",  # only chunk 9 is whole
        f"{base + 20 * HUGE:x}-{base + 22 * HUGE:x} rw-p 00000000 00:00 0    [heap]",
        f"{base + 30 * HUGE:x}-{base + 32 * HUGE:x} rw-p 00001000 fe:00 42   /usr/lib/libx.so",  # file-backed
        f"{base + 40 * HUGE:x}-{base + 42 * HUGE:x} r--p 00000000 00:00 0 ",     # read-only
        f"{base + 50 * HUGE:x}-{base + 52 * HUGE:x} rw-p 00000000 00:00 0    [stack]",
    ])
    ranges = _anon_ranges(maps)
    assert ranges == [(base, base + 5 * HUGE), (base + 9 * HUGE, base + 10 * HUGE),
                      (base + 20 * HUGE, base + 22 * HUGE)]
    per = HUGE // PAGE
    # chunk k of the first range holds (k+1)/5 of its pages; the others are full
    fill = {base + k * HUGE: int(per * (k + 1) / 5) for k in range(5)}

    def resident(start, length):
        out = bytearray()
        for c in range(start, start + length, HUGE):
            n = fill.get(c, per)
            out += b"\x01" * n + b"\x00" * (per - n)
        return bytes(out)

    chunks = dense_chunks(ranges, resident, 0.875)
    # chunks 0-3 of the first range are too sparse (memory would grow), chunk 4 is full;
    # adjacent dense chunks are merged into one madvise range
    assert chunks == [(base + 4 * HUGE, base + 5 * HUGE), (base + 9 * HUGE, base + 10 * HUGE),
                      (base + 20 * HUGE, base + 22 * HUGE)]
    assert dense_chunks(ranges, resident, 0.5)[0] == (base + 2 * HUGE, base + 5 * HUGE)
