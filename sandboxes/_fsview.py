"""Which host paths a sandbox sees: the read-only view shared by all backends.

The view is *allow-listed*: ``/usr`` (plus the merged-usr symlinks), a handful of
``/etc`` files, and the directories the target interpreter actually imports
from (its prefixes and ``sys.path``, asked from a clean ``python -I``).  The
toolkit's own tree is *hidden*: never bound, and covered by an empty tmpfs
where it sits below something that is bound (a non-editable install inside
site-packages).  Everything else (``/root``, ``/home``, ``/var``, the host
``/tmp``) is absent.

Example::

    >>> view = compute_view()                          # doctest: +SKIP
    >>> "/usr" in view.binds and view.hidden           # doctest: +SKIP
    True
"""

from __future__ import annotations

import functools
import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FsView", "compute_view", "interpreter_paths", "system_view", "toolkit_paths"]

# /etc entries an interpreter may read: loader cache (ctypes.util.find_library,
# which pyseccomp uses), time zone, name-service config, mime types.
_ETC = (
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
    "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/mime.types",
    "/etc/os-release", "/etc/alternatives",
)
_TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


@dataclass
class FsView:
    binds: list[str] = field(default_factory=list)  # absolute, read-only, same path inside
    symlinks: dict[str, str] = field(default_factory=dict)  # path -> link target
    hidden: list[str] = field(default_factory=list)  # covered by an empty tmpfs
    python: str = ""  # interpreter to start inside (same path as on the host)
    work_root: str = "/work"  # writable tmpfs holding the job work dirs

    def as_dict(self) -> dict:
        return {"binds": self.binds, "symlinks": self.symlinks, "hidden": self.hidden}


def toolkit_paths() -> list[str]:
    """Directories holding lemmaflow's own code, which no job may read."""
    import importlib.util

    # find_spec locates the top-level package without running it: the sandboxes must not
    # import the toolkit that imports them (imports run one way).
    top = importlib.util.find_spec("lemmaflow")
    dirs = {Path(__file__).resolve().parent}
    if top is not None and top.origin:
        dirs.add(Path(top.origin).resolve().parent)
    parent = Path(os.path.commonpath([str(d) for d in dirs]))
    if parent.name not in ("site-packages", "dist-packages") and parent not in dirs:
        # Editable install / checkout: the packages are siblings in the repo,
        # so hide the repo root (tests, docs and configs included).
        dirs = {parent}
    return sorted(str(d) for d in dirs)


@functools.lru_cache(maxsize=8)
def _interpreter_paths(python: str) -> tuple[dict, ...]:
    probe = (
        "import sys, json; print(json.dumps({'path': sys.path, 'prefixes': [sys.prefix, "
        "sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix], 'executable': sys.executable}))"
    )
    out = subprocess.run([python, "-I", "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return (json.loads(out.stdout),)


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def compute_view(python: str | None = None) -> FsView:
    """The view an interpreter needs: the system part plus its prefixes and ``sys.path``."""
    python = python or sys.executable
    info = _interpreter_paths(python)[0]
    return system_view(info["prefixes"] + [p for p in info["path"] if p], python=python)


def interpreter_paths(python: str) -> list[str]:
    """The directories ``python`` imports from (its prefixes and a clean ``sys.path``)."""
    info = _interpreter_paths(python)[0]
    return info["prefixes"] + [p for p in info["path"] if p]


def system_view(extra: list[str] | tuple[str, ...] = (), python: str = "") -> FsView:
    """The allow-listed system part (``/usr``, the merged-usr links, a few ``/etc`` files) plus ``extra``
    host paths, all read-only at the same place; the toolkit's own tree stays hidden.

    A path strictly inside the hidden checkout (a venv, one shipped script) is bound on its own.
    Used for interpreters (:func:`compute_view`) and for external programs such as provers
    (:mod:`.program`)."""
    hidden = toolkit_paths()
    view = FsView(python=python)
    for top in _TOP_LEVEL:
        if os.path.islink(top):
            view.symlinks[top] = os.readlink(top)
        elif os.path.isdir(top):
            view.binds.append(top)
    view.binds.append("/usr")
    candidates = [p for p in _ETC if os.path.exists(p)] + list(extra)
    for raw in candidates:
        real = os.path.realpath(raw)
        if not os.path.exists(real):
            continue
        if _under(real, view.binds) or any(_under(real, [os.path.realpath(s)]) for s in view.symlinks):
            continue
        if any(_under(h, [real]) for h in hidden):
            continue  # e.g. a checkout on sys.path: never expose it
        # A path strictly inside a hidden checkout (the project's own .venv) is
        # bound on its own; the checkout around it stays unbound, so invisible.
        # A parent of something already bound replaces it.
        view.binds = [b for b in view.binds if not _under(b, [real])]
        view.binds.append(real)
    view.binds.sort(key=lambda p: (p.count("/"), p))
    view.hidden = [h for h in hidden if _under(h, view.binds)]
    # The work tmpfs must not be the parent of anything bound (a checkout in
    # /work with its .venv inside): mount points would land on a writable fs.
    taken = view.binds + view.hidden + list(view.symlinks)
    view.work_root = next(w for w in ("/work", "/sandbox", "/jobs", "/lemmaflow-work")
                          if not any(_under(t, [w]) or _under(w, [t]) for t in taken))
    return view


def needs_staging(path: str) -> bool:
    """True when an unprivileged uid cannot reach ``path`` (an ancestor lacks o+x)."""
    p = Path(path)
    for anc in [*reversed(p.parents), p]:
        try:
            mode = os.stat(anc).st_mode
        except OSError:
            return True
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return True
    return False
