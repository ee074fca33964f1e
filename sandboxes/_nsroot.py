"""Build a private, read-only root for the sandbox server with plain syscalls.

Shipped as source into the server (stdlib only).  Used by the native fork-server
when it runs as root: the server process unshares mount/net/ipc/uts namespaces,
assembles a new root on a tmpfs out of read-only bind mounts of exactly the
paths the interpreter needs (``/usr``, the Python prefixes, ``sys.path``), adds
a fresh ``/proc`` (``hidepid=2``: a job sees only its own processes), a tiny
``/dev``, a read-only ``/tmp`` and a size-capped writable ``/work``, then
``pivot_root``s into it.  Everything else on the host, including the toolkit's
own source tree, ``/root`` and ``/home``, simply does not exist for the jobs.

It is the same picture that bubblewrap draws, done without a user namespace
because a root server wants to keep the power to give each job its own uid.

Example (as root, in a process that may lose its view of the host)::

    >>> view = {"binds": ["/usr"], "symlinks": {"/bin": "usr/bin"}, "hidden": []}
    >>> enter_private_root(view, work_mb=64)   # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import os
import platform
import stat

__all__ = ["bind_ro", "enter_private_root", "mount", "unshare"]

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}


def _err(what: str) -> OSError:
    e = ctypes.get_errno()
    return OSError(e, f"{what}: {os.strerror(e)}")


def unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:
        raise _err("unshare")


def mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731
    if _libc.mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        raise _err(f"mount {src} -> {dst}")


def _umount(path: str, flags: int) -> None:
    if _libc.umount2(os.fsencode(path), flags) != 0:
        raise _err(f"umount {path}")


def _mountpoint(dst: str, like: str) -> None:
    """Create an empty file or directory at ``dst`` to bind ``like`` onto."""
    if stat.S_ISDIR(os.stat(like).st_mode):
        os.makedirs(dst, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), mode=0o755, exist_ok=True)
        if not os.path.exists(dst):
            os.close(os.open(dst, os.O_CREAT | os.O_WRONLY, 0o644))


def bind_ro(src: str, dst: str, nodev: bool = True) -> None:
    """Read-only bind mount (two steps: the kernel ignores MS_RDONLY on a fresh bind)."""
    _mountpoint(dst, src)
    mount(src, dst, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | (MS_NODEV if nodev else 0)
    mount(None, dst, None, flags)


def enter_private_root(view: dict, work_mb: int, work_root: str = "/work", newroot: str = "/mnt") -> None:
    """Move the calling process (root) into a fresh read-only root; see module doc.

    ``view``: ``{"binds": [abs paths], "symlinks": {path: target}, "hidden": [paths]}``
    as computed on the host by ``_fsview.compute_view``.  ``newroot`` only needs
    to be an existing directory: the tmpfs goes on top of it in *our* namespace.
    """
    unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
    # Nothing we mount may propagate back to the host.
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    if not os.path.isdir(newroot):
        newroot = "/tmp"
    mount("tmpfs", newroot, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m")
    r = lambda p: newroot + p  # noqa: E731

    # Special filesystems first: binds below may live under /tmp (a venv).
    os.makedirs(r("/tmp"))
    mount("tmpfs", r("/tmp"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    os.makedirs(r(work_root))
    mount("tmpfs", r(work_root), "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0711,size={int(work_mb)}m")
    os.makedirs(r("/proc"))
    # hidepid=2: jobs (non-root) cannot even list other uids' processes.
    mount("proc", r("/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
    os.makedirs(r("/dev"))
    mount("tmpfs", r("/dev"), "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k")
    for node in ("null", "zero", "full", "random", "urandom"):
        if os.path.exists("/dev/" + node):
            # Writable (a job may write /dev/null) but the tmpfs under it is not.
            _mountpoint(r("/dev/" + node), "/dev/" + node)
            mount("/dev/" + node, r("/dev/" + node), None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, r("/dev/" + name))
    mount(None, r("/dev"), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)

    for path, target in sorted(view.get("symlinks", {}).items()):
        os.makedirs(os.path.dirname(r(path)), exist_ok=True)
        os.symlink(target, r(path))
    for path in sorted(view["binds"], key=lambda p: (p.count("/"), p)):
        if os.path.exists(path):
            bind_ro(path, r(path))
    for path in view.get("hidden", []):
        if os.path.isdir(r(path)):
            mount("tmpfs", r(path), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=0000,size=4k")
        elif os.path.exists(r(path)):
            bind_ro("/dev/null", r(path))
    mount(None, r("/tmp"), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)

    # pivot_root(".", "."): the old root ends up stacked on the new one and is
    # detached right away, so no path leads back to the host tree.
    os.chdir(newroot)
    nr = _SYS_PIVOT_ROOT.get(platform.machine())
    if nr is None:
        raise OSError(f"pivot_root: unknown syscall number on {platform.machine()}")
    if _libc.syscall(nr, b".", b".") != 0:
        raise _err("pivot_root")
    _umount(".", MNT_DETACH)
    os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _libc.sethostname(b"sandbox", 7)  # cosmetic; failure is harmless
