"""One-shot Coq checking: a fresh ``coqc`` per proof (the simple fallback and the benchmark baseline).

Same plan as the warm pool (:mod:`~lemmaflow.tools.provers.coq_check`), written
as one file: header, the original statement as a definition, the model's text
inside a nonce-named module, the closing definition, a marker and ``Print
Assumptions``. ``coqc`` prints the model's own output before the marker, so
only what follows the marker's last occurrence is read (the model cannot print
the marker: it does not know the nonce). The process runs in its own process
group with an address-space limit; a timeout kills the group.

Example::

    from lemmaflow.tools.provers import ProofTask
    from lemmaflow.tools.provers.coqc import CoqcProver

    prover = CoqcProver()
    r = prover.check(ProofTask(name="t", statement="Theorem t : 1 + 1 = 2.", proof="Proof. reflexivity. Qed."))
    print(r.summary())   # proved
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from ._process import confine_fn
from .base import ProofResult, ProofTask, ProverMessage, ProverUnavailable
from .coq import interpret_failure
from .coq_check import DEFAULT_PRELUDE, PlanError, PlannedSentence, assumption_verdict, build_plan

__all__ = ["CoqcProver"]

_ERROR = re.compile(r'File "[^"]*", line (\d+), characters (\d+)-(\d+):\n(Error|Warning):\s*(.*?)(?=\nFile "|\Z)', re.S)


class CoqcProver:
    language = "coq"

    def __init__(self, timeout_s: float = 60.0, memory_limit_mb: int | None = 4096, prelude: str = DEFAULT_PRELUDE,
                 coq_args: tuple[str, ...] = (), max_parallel: int = 2) -> None:
        self.timeout_s = timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.prelude = prelude
        self.coq_args = coq_args
        self._sem = asyncio.Semaphore(max_parallel) if max_parallel else None
        self._binary: str | None = None

    def start(self) -> None:
        self._binary = shutil.which("coqc")
        if not self._binary:
            raise ProverUnavailable("coqc not found: install Coq (Debian: apt-get install coq libcoq-coquelicot)")

    def versions(self) -> dict[str, str]:
        """``{"coq": "8.16.1"}`` from ``coqc --version``."""
        from .versions import coq_versions

        return coq_versions(self._binary or "coqc")

    def close(self) -> None:
        pass

    def __enter__(self) -> "CoqcProver":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def acheck(self, task: ProofTask) -> ProofResult:
        if self._sem is None:
            return await asyncio.to_thread(self.check, task)
        async with self._sem:
            return await asyncio.to_thread(self.check, task)

    def check(self, task: ProofTask) -> ProofResult:
        if self._binary is None:
            self.start()
        t0 = time.monotonic()
        try:
            plan = build_plan(task, prelude=self.prelude)
        except PlanError as e:
            return ProofResult(status="failed", messages=e.messages or [ProverMessage(text=e.reason)],
                               reason=e.reason, time_s=time.monotonic() - t0)
        marker = f"__lf_mark_{plan.nonce}"
        sentences = plan.header + plan.body[:-1] + [
            PlannedSentence(f"Definition {marker} := tt.", "check"),
            PlannedSentence(f"Check {marker}.", "check"),
            plan.body[-1],
        ]
        lines: list[int] = []  # first line of each sentence in the file
        parts, line = [], 1
        for s in sentences:
            lines.append(line)
            parts.append(s.text)
            line += s.text.count("\n") + 1
        workdir = tempfile.mkdtemp(prefix="lemmaflow-coqc-")
        try:
            path = os.path.join(workdir, "LFCheck.v")
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(parts) + "\n")
            timeout = task.timeout_s or self.timeout_s
            limit = self.memory_limit_mb << 20 if self.memory_limit_mb else None

            proc = subprocess.Popen(
                [self._binary or "coqc", "-q", "-native-compiler", "no", *self.coq_args, "LFCheck.v"],
                cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=confine_fn(limit),
            )
            try:
                out_b, err_b = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                return ProofResult(status="timeout", reason=f"no verdict within {timeout:g} s", time_s=time.monotonic() - t0)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        out, err = out_b.decode(errors="replace"), err_b.decode(errors="replace")
        if proc.returncode != 0:
            errors = [m for m in _ERROR.finditer(err) if m.group(4) == "Error"]
            if not errors:
                if proc.returncode < 0 or "Out of memory" in err or "Stack overflow" in err:
                    return ProofResult(status="crashed", reason=f"coqc died (status {proc.returncode}): {err.strip()[-200:]}",
                                       time_s=time.monotonic() - t0)
                return ProofResult(status="failed", messages=[ProverMessage(text=err.strip()[-2000:])],
                                   reason=f"coqc failed: {err.strip()[-200:]}", time_s=time.monotonic() - t0)
            m = errors[0]
            err_line, col = int(m.group(1)), int(m.group(2))
            idx = max(i for i, start in enumerate(lines) if start <= err_line)
            s = sentences[idx]
            # byte offset inside the sentence: the lines before err_line, then the column
            sent_lines = s.text.encode().split(b"\n")
            k = err_line - lines[idx]
            byte_loc = sum(len(x) + 1 for x in sent_lines[:k]) + col
            result = interpret_failure(plan, s, m.group(5).strip(), byte_loc)
            result.time_s = time.monotonic() - t0
            return result
        pos = out.rfind(f"{marker}\n")
        output = out[pos:].split("\n", 2)[2] if pos >= 0 and out[pos:].count("\n") >= 2 else ""
        axioms, reason = assumption_verdict(plan, output)
        status = "failed" if reason else "proved"
        return ProofResult(status=status, axioms=axioms, reason=reason, time_s=time.monotonic() - t0)
