"""One-shot Coq checking: a fresh ``coqc`` per proof (the simple fallback and the benchmark baseline).

Same plan as the warm pool (:mod:`~lemmaflow.tools.provers.coq_check`), written
as one file: header, the original statement as a definition, the model's text
inside a nonce-named module, the closing definition, a marker and ``Print
Assumptions``. ``coqc`` prints the model's own output before the marker, so
only what follows the marker's last occurrence is read (the model cannot print
the marker: it does not know the nonce). The process runs confined by default
(:func:`._process.spawn_prover`: the file is put into a discarded scratch tmpfs,
everything else is read-only, no network, no new processes; ``confine=False``
opts out) in its own process group with an address-space limit; a timeout kills the group.

Example::

    from lemmaflow.tools.provers import ProofTask
    from lemmaflow.tools.provers.coqc import CoqcProver

    prover = CoqcProver()
    r = prover.check(ProofTask(name="t", statement="Theorem t : 1 + 1 = 2.", proof="Proof. reflexivity. Qed."))
    print(r.summary())   # proved
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time

from ._process import kill_group, release_process, require_confinement, spawn_prover
from .base import ProofResult, ProofTask, ProverMessage, ProverUnavailable
from .coq import interpret_failure
from .coq_check import DEFAULT_PRELUDE, PlanError, PlannedSentence, assumption_verdict, build_plan
from .coq_ide import coq_env, coq_read_paths

__all__ = ["CoqcProver"]

_ERROR = re.compile(r'File "[^"]*", line (\d+), characters (\d+)-(\d+):\n(Error|Warning):\s*(.*?)(?=\nFile "|\Z)', re.S)


class CoqcProver:
    language = "coq"

    def __init__(self, timeout_s: float = 60.0, memory_limit_mb: int | None = 4096, prelude: str = DEFAULT_PRELUDE,
                 coq_args: tuple[str, ...] = (), max_parallel: int = 2, confine: bool = True) -> None:
        self.timeout_s = timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.prelude = prelude
        self.coq_args = coq_args
        self.confine = confine  # False: the user opted out (coqc runs with their full rights)
        self._sem = asyncio.Semaphore(max_parallel) if max_parallel else None
        self._binary: str | None = None

    def start(self) -> None:
        self._binary = shutil.which("coqc")
        if not self._binary:
            raise ProverUnavailable("coqc not found: install Coq (Debian: apt-get install coq libcoq-coquelicot)")
        if self.confine:
            require_confinement()

    @property
    def confined(self) -> bool:
        return self.confine

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
        source = ("\n".join(parts) + "\n").encode("utf-8")
        timeout = task.timeout_s or self.timeout_s
        limit = self.memory_limit_mb << 20 if self.memory_limit_mb else None
        # Confined, LFCheck.v goes into the sandbox's scratch tmpfs (with the .vo/.glob coqc writes);
        # unconfined, into a host temporary directory.
        workdir = None if self.confine else tempfile.mkdtemp(prefix="lemmaflow-coqc-")
        try:
            proc = spawn_prover(
                [self._binary or "coqc", "-q", "-native-compiler", "no", *self.coq_args, "LFCheck.v"],
                confine=self.confine, memory_limit_bytes=limit, cwd=workdir, files={"LFCheck.v": source},
                env=coq_env() if self.confine else None, read_paths=coq_read_paths(self.coq_args),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            )
            try:
                out_b, err_b = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(proc)
                return ProofResult(status="timeout", reason=f"no verdict within {timeout:g} s", time_s=time.monotonic() - t0)
            finally:
                release_process(proc)  # a confined process's uid block and cgroup
        finally:
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)
        out, err = out_b.decode(errors="replace"), err_b.decode(errors="replace")
        if proc.returncode != 0:
            errors = [m for m in _ERROR.finditer(err) if m.group(4) == "Error"]
            if not errors:
                # confined, bwrap passes a signal death on as 128 + the signal
                if proc.returncode < 0 or proc.returncode > 128 or "Out of memory" in err or "Stack overflow" in err:
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
