"""The assumption memo: a small Coq plugin that lets a warm session skip re-walking its preloaded libraries.

Why: on a proof that succeeds, the last step of a check, ``Print Assumptions``, is
nearly all of its time (0.6–1.5 s of ~0.7–1.6 s for an ``lra``/``lia`` proof; the
module, the statement check and the proof itself take ~50 ms): Coq walks the
opaque proofs of every library lemma the proof rests on, again on every call.
A warm session loads the same libraries for its whole life, so that walk can be
done once. Coq 8.16 has no command for it, hence a plugin
(``coq_plugin/lf_assumptions.ml``, built here with ``ocamlfind`` against the
installed ``coq-core``) adding two commands:

- ``Lemmaflow Seal Libraries.`` — run by the pool once per session, right after the
  preload and before any untrusted text (a second call fails): records the
  libraries loaded at that moment;
- ``Lemmaflow Print Assumptions r.`` — ``Print Assumptions`` with a memo of the
  direct dependencies of objects whose user and canonical names both live in a
  sealed library. A compiled library's objects cannot be redefined or shadowed by
  later text (kernel names are unique; text defines its objects under its own
  module), and the session never rewinds before the seal, so their dependencies
  never change. Everything else — the proof's own constants, anything a header or
  the proof ``Require``-s later, modules, sections — is walked every time, and the
  final fold (axioms, section variables, unsafe guard/positivity/universe flags,
  UIP) is Coq's own, over every object reachable from ``r``; the output is printed
  by Coq's printer, so :func:`~.coq_check.parse_assumptions` reads it unchanged.

The build needs OCaml and Coq's development files (Debian: ``ocaml-findlib
libcoq-core-ocaml-dev``). Without them the pool falls back to plain ``Print
Assumptions`` (same verdicts, slower on proofs that succeed). The build goes to
``$LEMMAFLOW_CACHE`` (default ``~/.cache/lemmaflow``)/``coq-plugin/<coq version>-<source hash>``,
is atomic (a rename), and is done once per machine.

Example::

    from lemmaflow.tools.provers.coq_memo import plugin_path
    print(plugin_path())   # a directory for OCAMLPATH, or None (no OCaml/Coq dev files)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

__all__ = ["PLUGIN_PACKAGE", "PluginBuildError", "build_plugin", "plugin_path", "plugin_sentences"]

PLUGIN_PACKAGE = "lemmaflow-coq.plugin"
_SOURCES = ("lf_assumptions.ml", "g_lf_assumptions.mlg", "lemmaflow_coq_plugin.mlpack")
_META = """package "plugin" (
  directory = "."
  requires = "coq-core.vernac"
  plugin(native) = "lemmaflow_coq_plugin.cmxs"
  archive(native) = "lemmaflow_coq_plugin.cmxs"
)
"""
_lock = threading.Lock()


class PluginBuildError(RuntimeError):
    """The plugin could not be built (the message says what is missing)."""


def _source_dir() -> Path:
    return Path(__file__).with_name("coq_plugin")


def _coq_version() -> str:
    out = subprocess.run(["coqc", "--print-version"], capture_output=True, text=True, timeout=60)
    return out.stdout.split()[0] if out.returncode == 0 and out.stdout.split() else "unknown"


def _cache_root() -> Path:
    base = os.environ.get("LEMMAFLOW_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lemmaflow")
    return Path(base) / "coq-plugin"


def _run(cmd: list[str], cwd: Path) -> None:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise PluginBuildError(f"{' '.join(cmd[:2])} failed: {(p.stderr or p.stdout).strip()[-800:]}")


def build_plugin(dest: Path) -> Path:
    """Compile the plugin into ``dest`` (an OCAMLPATH directory holding ``lemmaflow-coq/``); returns ``dest``."""
    for tool in ("coqpp", "ocamlfind"):
        if not shutil.which(tool):
            raise PluginBuildError(f"{tool} not found: install ocaml-findlib and libcoq-core-ocaml-dev")
    probe = subprocess.run(["ocamlfind", "query", "coq-core.vernac"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise PluginBuildError("ocamlfind does not know coq-core.vernac: install libcoq-core-ocaml-dev")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=dest.parent))
    try:
        for name in _SOURCES:
            shutil.copy(_source_dir() / name, work / name)
        flags = ["-rectypes", "-thread", "-w", "-a", "-package", "coq-core.vernac"]
        _run(["coqpp", "g_lf_assumptions.mlg"], work)
        for ml in ("lf_assumptions.ml", "g_lf_assumptions.ml"):
            _run(["ocamlfind", "ocamlopt", *flags, "-for-pack", "Lemmaflow_coq_plugin", "-c", ml], work)
        _run(["ocamlfind", "ocamlopt", *flags, "-pack", "-o", "lemmaflow_coq_plugin.cmx",
              "lf_assumptions.cmx", "g_lf_assumptions.cmx"], work)
        _run(["ocamlfind", "ocamlopt", *flags, "-shared", "-linkall", "-o", "lemmaflow_coq_plugin.cmxs",
              "lemmaflow_coq_plugin.cmx"], work)
        pkg = work / "out" / "lemmaflow-coq"
        pkg.mkdir(parents=True)
        shutil.copy(work / "lemmaflow_coq_plugin.cmxs", pkg)
        (pkg / "META").write_text(_META)
        try:
            os.rename(work / "out", dest)  # atomic: a concurrent build that won leaves its copy in place
        except OSError:
            if not (dest / "lemmaflow-coq" / "META").exists():
                raise
        return dest
    finally:
        shutil.rmtree(work, ignore_errors=True)


@lru_cache(maxsize=None)
def _cached_path() -> str | None:
    if not shutil.which("coqc"):
        return None
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((_source_dir() / name).read_bytes())
    dest = _cache_root() / f"{_coq_version()}-{digest.hexdigest()[:12]}"
    if (dest / "lemmaflow-coq" / "META").exists():
        return str(dest)
    try:
        return str(build_plugin(dest))
    except (PluginBuildError, OSError, subprocess.SubprocessError):
        return None


def plugin_path() -> str | None:
    """The OCAMLPATH directory of the built plugin (building it the first time), or None when it cannot be built."""
    with _lock:
        return _cached_path()


def plugin_sentences() -> list[str]:
    """What a session runs after its preload to use the memo (the pool adds them before any untrusted text)."""
    return [f'Declare ML Module "{PLUGIN_PACKAGE}".', "Lemmaflow Seal Libraries."]
