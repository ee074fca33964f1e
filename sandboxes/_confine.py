"""Process confinement applied to every job process: seccomp, rlimits, uid drop.

Shipped as source into the sandbox server (stdlib + ``pyseccomp`` only).

The seccomp filter is compiled **once per server** with libseccomp (through
``pyseccomp``) and exported as raw BPF; each forked job then loads the bytes
with one ``prctl`` call.  Building the filter in the child costs ~13 ms on a
small VM, loading precompiled BPF costs microseconds.  The only rule that
depends on the child (signals may target only its own pid or process group) is
a ten-instruction BPF program assembled here by hand and stacked on top.

Example (in a throwaway child, since a filter can never be removed)::

    >>> import os
    >>> bpf = compile_filter(allow_fork=False)      # doctest: +SKIP
    >>> pid = os.fork()                             # doctest: +SKIP
    >>> if pid == 0:                                # doctest: +SKIP
    ...     set_no_new_privs(); load_bpf(bpf)
    ...     os.system("true")  # -> fork is refused with EPERM
    ...     os._exit(0)
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import struct

__all__ = [
    "compile_filter",
    "drop_privileges",
    "load_bpf",
    "own_signal_filter",
    "set_dumpable",
    "set_no_new_privs",
    "set_pdeathsig",
    "set_rlimit",
    "set_subreaper",
]

_libc = ctypes.CDLL(None, use_errno=True)

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000

CLONE_THREAD = 0x00010000
# Namespace flags: a job must not build itself a new namespace to escape from.
_CLONE_NS_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)

# Refused outright (EPERM).  Grouped by the attack they stop.
_DENY = (
    # network: every socket family (socketpair stays, it cannot reach anything)
    "socket",
    # running other programs: os.system, subprocess, ctypes execve
    "execve", "execveat",
    # reading or poking other processes (the server, other jobs)
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp",
    "pidfd_open", "pidfd_getfd", "pidfd_send_signal",
    "tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    # leaving the job's process group, so that killpg reaches every descendant
    "setsid", "setpgid",
    # namespaces and mounts
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr",
    # kernel attack surface a math job never needs; io_uring can open sockets
    # without going through the socket syscall, so it must go too
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "acct", "reboot", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "swapon", "swapoff", "syslog", "quotactl", "open_by_handle_at",
    "name_to_handle_at", "lookup_dcookie", "ioperm", "iopl", "vhangup",
    # identity changes (the job already runs as its final uid)
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
    "setgroups", "setfsuid", "setfsgid", "capset",
)
_TIOCSTI = 0x5412


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), 0, 0), f"prctl({option})")


def set_no_new_privs() -> None:
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_dumpable(flag: bool) -> None:
    # Non-dumpable: /proc/<pid>/{mem,fd,environ} of this process become
    # inaccessible to processes of the same uid (the bwrap/docker case).
    _prctl(PR_SET_DUMPABLE, int(flag))


def set_pdeathsig(sig: int) -> None:
    _prctl(PR_SET_PDEATHSIG, sig)


def set_subreaper() -> None:
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def compile_filter(allow_fork: bool, deny_chmod: bool = False, allow_exec: bool = False) -> tuple[bytes, dict]:
    """Build the static seccomp filter; returns ``(bpf_bytes, info)``.

    ``allow_exec``: leave ``execve`` open, for a filter that bwrap loads right before it execs
    an external program (a prover); such a program is then kept from starting others by
    ``allow_fork=False`` instead.

    ``info`` carries what :func:`own_signal_filter` needs (arch, syscall numbers),
    resolved by libseccomp so that the hand-written part stays arch-portable.
    """
    try:
        import pyseccomp as sc
    except Exception as exc:  # ImportError, or libseccomp.so missing (OSError)
        raise RuntimeError(
            f"pyseccomp unusable ({exc}): pip install pyseccomp and apt-get install libseccomp2"
        ) from None
    eperm = sc.ERRNO(errno.EPERM)
    flt = sc.SyscallFilter(sc.ALLOW)
    arch = sc.system_arch()

    def known(name: str) -> bool:
        try:
            return sc.resolve_syscall(arch, name) >= 0
        except Exception:
            return False

    for name in _DENY:
        if allow_exec and name in ("execve", "execveat"):
            continue
        if known(name):
            flt.add_rule(eperm, name)
    # clone3 passes its flags in memory that BPF cannot read; ENOSYS makes glibc
    # fall back to clone(2), whose flags we can check.
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    for flag in _CLONE_NS_FLAGS:
        flt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    if not allow_fork:
        flt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
        for name in ("fork", "vfork"):
            if known(name):
                flt.add_rule(eperm, name)
    flt.add_rule(eperm, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, _TIOCSTI))
    if deny_chmod:
        # Where a job shares its uid with the server, the server keeps /work
        # read-only between its own operations; a job must not undo that.
        for name in ("chmod", "fchmod", "fchmodat", "fchmodat2"):
            if known(name):
                flt.add_rule(eperm, name)
    fd = os.memfd_create("lemmaflow-seccomp")
    try:
        with open(fd, "wb", closefd=False) as fo:
            flt.export_bpf(fo)
        bpf = os.pread(fd, 1 << 20, 0)
    finally:
        os.close(fd)
    info = {
        "arch": arch,
        "kill": sc.resolve_syscall(arch, "kill"),
        "tgkill": sc.resolve_syscall(arch, "tgkill"),
    }
    return bpf, info


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


def own_signal_filter(pid: int, info: dict) -> bytes:
    """BPF that lets ``kill`` target only pid 0 or ``pid``, and ``tgkill`` only ``pid``.

    kill(0, sig) means "my own process group", the only group a job can be in.
    Everything else (the server, other jobs, pid -1, negative groups) gets EPERM.
    Needed where jobs share a uid with the server (bwrap, docker); harmless
    elsewhere.  Arguments are 64-bit in seccomp_data, so both words are checked.
    """
    ld, jeq, ret = 0x20, 0x15, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_RET|K
    code: list[tuple] = [
        ("ld", 4),  # seccomp_data.arch
        ("jeq", info["arch"], None, "allow"),  # foreign arch: the main filter decides
        ("ld", 0),  # seccomp_data.nr
        ("jeq", info["kill"], "kill", None),
        ("jeq", info["tgkill"], "tgkill", "allow"),
        ("label", "kill"),
        ("ld", 20),  # args[0] high word
        ("jeq", 0, None, "deny"),
        ("ld", 16),  # args[0] low word
        ("jeq", 0, "allow", None),
        ("jeq", pid, "allow", "deny"),
        ("label", "tgkill"),
        ("ld", 20),
        ("jeq", 0, None, "deny"),
        ("ld", 16),
        ("jeq", pid, "allow", "deny"),
        ("label", "deny"),
        ("ret", SECCOMP_RET_ERRNO | errno.EPERM),
        ("label", "allow"),
        ("ret", SECCOMP_RET_ALLOW),
    ]
    labels, pos = {}, 0
    for ins in code:
        if ins[0] == "label":
            labels[ins[1]] = pos
        else:
            pos += 1
    out, pos = [], 0
    for ins in code:
        if ins[0] == "label":
            continue
        if ins[0] == "ld":
            out.append(_insn(ld, 0, 0, ins[1]))
        elif ins[0] == "ret":
            out.append(_insn(ret, 0, 0, ins[1]))
        else:  # conditional jump; offsets are relative to the next instruction
            _, k, t, f = ins
            jt = labels[t] - pos - 1 if t else 0
            jf = labels[f] - pos - 1 if f else 0
            out.append(_insn(jeq, jt, jf, k))
        pos += 1
    return b"".join(out)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def load_bpf(bpf: bytes) -> None:
    """Install a raw BPF seccomp program (needs no_new_privs or CAP_SYS_ADMIN)."""
    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _SockFprog(len(bpf) // 8, ctypes.addressof(buf))
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")


def drop_privileges(uid: int, gid: int) -> None:
    """root -> ``uid``/``gid`` for good (real, effective and saved ids; no groups)."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError(errno.EPERM, "uid drop did not take")


def set_rlimit(which: int, soft: int, hard: int | None = None) -> None:
    """Lower a limit; never raises it above the current hard limit."""
    cur_soft, cur_hard = resource.getrlimit(which)
    hard = soft if hard is None else hard
    if cur_hard != resource.RLIM_INFINITY:
        hard = min(hard, cur_hard)
    soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))
