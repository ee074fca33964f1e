"""A client for ``coqidetop``, Coq's own XML machine interface (the protocol CoqIDE speaks).

Why this and not scraping ``coqtop``: every answer is a structured XML value,
every message arrives as feedback tagged with the state id of the sentence that
produced it (so a proof text that *prints* "Closed under the global context"
cannot be mistaken for our ``Print Assumptions``), errors carry source
locations, and ``Edit_at`` rewinds the document to an earlier state id, which
restores Coq's whole global environment as it was then: that is how each check
starts from the state right after the header. SerAPI and coq-lsp/Pétanque are
not packaged for Debian's Coq 8.16 (``apt-cache search serapi`` finds nothing,
opam is not reachable); ``coqidetop`` ships with the ``coq`` package itself.

Protocol (``coqidetop.opt --help-XML-protocol``): ``Init`` -> initial state id;
``Add`` one sentence on top of a state -> new state id (parsing only);
``Status true`` executes the document up to its tip (a ``fail`` value says the
first error); ``Edit_at`` backtracks. The process runs confined by default
(:func:`._process.spawn_prover`: read-only view, a discarded scratch directory as
its working directory, no network, no new processes; ``confine=False`` opts
out) in its own process group with an address-space limit; a timeout kills the group.

Example::

    s = CoqIdeSession()
    s.start()
    sid = s.add("Definition x := 1.", s.root)
    assert s.status().ok
    s.close()
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from ._process import kill_group, spawn_prover
from .base import ProverUnavailable

__all__ = ["CoqIdeSession", "IdeMessage", "IdeFailure", "SessionDead", "SessionTimeout", "coq_read_paths",
           "find_coqidetop"]


class SessionDead(RuntimeError):
    """coqidetop exited (crash, out of memory, killed)."""


class SessionTimeout(RuntimeError):
    """No answer within the deadline; the process group has been killed."""


@dataclass
class IdeMessage:
    level: str  # error | warning | notice | info | debug
    text: str
    loc: tuple[int, int] | None  # byte offsets in the sentence


@dataclass
class IdeFailure:
    """A ``fail`` value: the error text, its location (bytes, in the failing sentence) and the last good state."""

    text: str
    loc: tuple[int, int] | None
    good_state: int | None


@dataclass
class StatusResult:
    failure: IdeFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


def find_coqidetop() -> str:
    for name in ("coqidetop.opt", "coqidetop"):
        path = shutil.which(name)
        if path:
            return path
    raise ProverUnavailable("coqidetop not found: install Coq (Debian: apt-get install coq libcoq-coquelicot)")


def coq_read_paths(args: tuple[str, ...] | list[str]) -> list[str]:
    """Host directories a confined Coq must be able to read besides ``/usr`` (where Debian's Coq,
    its stdlib and ``user-contrib``, Coquelicot included, live): ``-Q``/``-R``/``-I`` directories
    on the command line, ``-coqlib``, ``$COQPATH``/``$COQLIB``, and findlib's configuration
    (Coq 8.16 locates its plugins through ``ocamlfind``)."""
    out: list[str] = [p for p in ("/etc/ocamlfind.conf", "/etc/ocamlfind.conf.d") if os.path.exists(p)]
    args = list(args)
    for i, a in enumerate(args):
        if a in ("-Q", "-R", "-I", "-include", "-coqlib") and i + 1 < len(args):
            out.append(os.path.abspath(args[i + 1]))
    out += [p for p in os.environ.get("COQPATH", "").split(os.pathsep) if p]
    if os.environ.get("COQLIB"):
        out.append(os.environ["COQLIB"])
    return out


def coq_env() -> dict[str, str]:
    """The Coq variables a confined process keeps from the host environment."""
    return {k: os.environ[k] for k in ("COQPATH", "COQLIB") if os.environ.get(k)}


def _text(el: ET.Element | None) -> str:
    return "".join(el.itertext()).replace("\xa0", " ") if el is not None else ""


@dataclass
class CoqIdeSession:
    """One ``coqidetop`` process. Not thread-safe: a pool hands each session to one caller at a time."""

    args: tuple[str, ...] = ()
    memory_limit_bytes: int | None = 4 << 30
    binary: str | None = None
    confine: bool = True  # False: the user opted out (full file-system rights)
    env: dict[str, str] | None = None  # extra environment (OCAMLPATH of the assumption-memo plugin: read-only)
    pid: int | None = field(default=None, init=False)
    root: int = field(default=1, init=False)
    messages: dict[int, list[IdeMessage]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir: str | None = None
        self._parser: ET.XMLPullParser | None = None
        self._depth = 0
        self._pending = b""

    # -- process ---------------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> None:
        binary = self.binary or find_coqidetop()
        # Confined, the working directory is the sandbox's own scratch tmpfs; unconfined, a host one.
        self._workdir = None if self.confine else tempfile.mkdtemp(prefix="lemmaflow-coq-")
        cmd = [binary, "-main-channel", "stdfds", "-q", "-async-proofs", "off", "-native-compiler", "no", *self.args]
        extra = dict(self.env or {})
        # the memo plugin's folder (OCAMLPATH) is readable inside the confinement, like the libraries
        plugin_dirs = [d for d in extra.get("OCAMLPATH", "").split(os.pathsep) if d]
        self._proc = spawn_prover(
            cmd, confine=self.confine, memory_limit_bytes=self.memory_limit_bytes, cwd=self._workdir,
            env={**(coq_env() if self.confine else {}), **extra} or None,
            read_paths=coq_read_paths(self.args) + plugin_dirs,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        self.pid = self._proc.pid
        self._parser = ET.XMLPullParser(events=("start", "end"))
        self._parser.feed(b"<root>")  # coqidetop writes a stream of top-level elements
        self._depth, self._pending = 0, b""
        value = self._call('<call val="Init"><option val="none"/></call>', timeout_s)
        sid = value.find("state_id")
        self.root = int(sid.get("val")) if sid is not None else 1

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """Kill the whole process group (coqidetop and anything it started)."""
        proc, self._proc = self._proc, None
        kill_group(proc)
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def close(self) -> None:
        self.kill()

    # -- protocol ----------------------------------------------------------------
    def _call(self, xml: str, timeout_s: float) -> ET.Element:
        if not self.alive:
            raise SessionDead("coqidetop is not running")
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(xml.encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self.kill()
            raise SessionDead(f"coqidetop exited: {e}") from None
        return self._read_value(time.monotonic() + timeout_s)

    def _read_value(self, deadline: float) -> ET.Element:
        assert self._proc is not None and self._proc.stdout is not None and self._parser is not None
        fd = self._proc.stdout.fileno()
        while True:
            for ev, el in self._parser.read_events():
                if ev == "start":
                    self._depth += 1
                    continue
                self._depth -= 1
                if self._depth != 1:
                    continue
                if el.tag == "value":
                    return el
                if el.tag == "feedback":
                    self._on_feedback(el)
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise SessionTimeout("no answer from coqidetop in time")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                code = self._proc.poll()
                self.kill()
                raise SessionDead(f"coqidetop exited (status {code})")
            data = self._pending + chunk
            # Coq writes the HTML entity &nbsp; which XML does not know; keep a torn entity for the next chunk.
            amp = data.rfind(b"&")
            if amp >= 0 and b";" not in data[amp:]:
                data, self._pending = data[:amp], data[amp:]
            else:
                self._pending = b""
            self._parser.feed(data.replace(b"&nbsp;", b"&#160;"))

    def _on_feedback(self, el: ET.Element) -> None:
        sid_el = el.find("state_id")
        content = el.find("feedback_content")
        if sid_el is None or content is None or content.get("val") != "message":
            return
        msg = content.find("message")
        if msg is None:
            return
        level_el = msg.find("message_level")
        loc_el = msg.find("option/loc")
        loc = (int(loc_el.get("start", 0)), int(loc_el.get("stop", 0))) if loc_el is not None else None
        text = _text(msg.find("richpp"))
        self.messages.setdefault(int(sid_el.get("val", -1)), []).append(
            IdeMessage(level_el.get("val", "info") if level_el is not None else "info", text, loc)
        )

    @staticmethod
    def _failure(value: ET.Element) -> IdeFailure:
        loc = None
        if value.get("loc_s") is not None:
            loc = (int(value.get("loc_s", 0)), int(value.get("loc_e", 0)))
        sid = value.find("state_id")
        return IdeFailure(_text(value.find("richpp")) or _text(value), loc, int(sid.get("val")) if sid is not None else None)

    def add(self, sentence: str, state: int, timeout_s: float = 30.0) -> int | IdeFailure:
        """Add one sentence on top of ``state``: its new state id, or the parse failure."""
        xml = (
            '<call val="Add"><pair><pair><pair><pair>'
            f"<string>{escape(sentence)}</string><int>-1</int></pair>"
            f'<pair><state_id val="{state}"/><bool val="true"/></pair></pair>'
            "<int>0</int></pair><pair><int>1</int><int>0</int></pair></pair></call>"
        )
        value = self._call(xml, timeout_s)
        if value.get("val") != "good":
            return self._failure(value)
        sid = value.find("pair/state_id")
        if sid is None:
            raise SessionDead(f"unexpected Add answer: {ET.tostring(value)[:200]!r}")
        return int(sid.get("val"))

    def status(self, timeout_s: float = 30.0) -> StatusResult:
        """Execute the document up to its tip."""
        value = self._call('<call val="Status"><bool val="true"/></call>', timeout_s)
        return StatusResult(None if value.get("val") == "good" else self._failure(value))

    def edit_at(self, state: int, timeout_s: float = 30.0) -> bool:
        """Rewind the document to ``state`` (its environment comes back exactly as it was)."""
        value = self._call(f'<call val="Edit_at"><state_id val="{state}"/></call>', timeout_s)
        return value.get("val") == "good"
