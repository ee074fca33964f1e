"""Docker backend: the fork-server inside locked-down containers (docker SDK).

Each pool server is one container: ``--network none``, read-only root,
tmpfs ``/work`` (size-capped, owned by the job uid) and read-only ``/tmp``,
memory and pids limits, every capability dropped, ``no-new-privileges``, a
non-root uid reserved for it (``_uids``).  Inside, the same fork-server forks
confined job processes (rlimits, seccomp, setsid) as in the other backends.

No registry is needed (nor reachable on our machines): the image is a few
empty directories and symlinks, built in memory and ``docker import``-ed,
tagged by the hash of its content so it is built once per daemon.  The
interpreter comes from the host, bind-mounted read-only at the same paths
(``/usr`` and the Python prefixes; never the toolkit's tree).

The host talks to the server over a unix socket in a private directory that
is bind-mounted into the container (``--network none`` does not affect unix
sockets).  The ``docker`` package is imported only here.

:class:`PrivateDockerd` starts a throw-away ``dockerd`` (own data root and
socket) for tests and benchmarks.

Example::

    >>> from lemmaflow.sandboxes import DockerExecutor
    >>> with PrivateDockerd() as d, DockerExecutor(base_url=d.url, pool_size=1) as ex:  # doctest: +SKIP
    ...     ex.run("import os; os.getuid() != 0").value
    'True'
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

from pydantic import Field

from ._fsview import compute_view
from ._uids import UidBlock
from .base import SandboxConfig, SandboxUnavailable
from .forkserver import sandbox_env
from .pool import BOOTSTRAP, PooledExecutor, ServerHandle

__all__ = ["DockerConfig", "DockerExecutor", "PrivateDockerd", "build_rootfs"]

_INSTALL_HINT = "pip install docker  (or: pip install 'lemmaflow[docker]')"
_IMAGE_REPO = "lemmaflow-sandbox"


def _cache_dir() -> Path:
    return Path(os.environ.get("LEMMAFLOW_CACHE", Path.home() / ".cache" / "lemmaflow"))


class DockerConfig(SandboxConfig):
    base_url: str | None = Field(None, description="daemon URL; default: DOCKER_HOST or the system socket")
    container_memory_mb: int | None = Field(
        None, ge=64, description="cgroup memory of one container (server + one job); default memory_mb + 768"
    )
    pids_limit: int = Field(256, ge=16)
    nano_cpus: int | None = Field(None, description="CPU quota in 1e-9 CPUs, e.g. 1_000_000_000 for one core")
    cache_dir: Path = Field(default_factory=_cache_dir)


def build_rootfs(symlinks: dict[str, str]) -> bytes:
    """A deterministic tarball: empty mount points and merged-usr symlinks only."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        def add_dir(path: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 0
            tar.addfile(info)

        def add_file(path: str, data: bytes) -> None:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))

        for d in ("/etc", "/usr", "/tmp", "/proc", "/dev", "/sys", "/root", "/run", "/run/lfctl", "/mnt"):
            add_dir(d)
        add_file("/etc/passwd", b"root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534::/:/usr/sbin/nologin\n")
        add_file("/etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        for path, target in sorted(symlinks.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, 0
            tar.addfile(info)
    return buf.getvalue()


def _docker_module():
    try:
        import docker
    except ImportError:
        raise SandboxUnavailable(f"the docker backend needs the docker SDK: {_INSTALL_HINT}") from None
    return docker


class DockerExecutor(PooledExecutor):
    """Fork-server pool, each server in its own container."""

    kind = "docker"
    config_cls = DockerConfig
    config: DockerConfig

    def __init__(self, config: DockerConfig | None = None, **overrides: object) -> None:
        super().__init__(config, **overrides)
        self._client = None
        self._image: str | None = None
        self._image_lock = threading.Lock()

    def _check_available(self) -> None:
        docker = _docker_module()
        try:
            client = docker.DockerClient(base_url=self.config.base_url) if self.config.base_url else docker.from_env()
            client.ping()
        except Exception as exc:  # docker.errors.DockerException and connection errors
            where = self.config.base_url or os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
            raise SandboxUnavailable(
                f"cannot reach a Docker daemon at {where} ({exc}). Install docker.io "
                "(apt-get install docker.io) and start dockerd, or pass base_url="
            ) from None
        self._client = client
        self._ensure_image()

    def _ensure_image(self) -> str:
        with self._image_lock:
            if self._image:
                return self._image
            docker = _docker_module()
            view = compute_view(self.config.python or sys.executable)
            data = build_rootfs(view.symlinks)
            tag = hashlib.sha256(data).hexdigest()[:16]
            image = f"{_IMAGE_REPO}:{tag}"
            try:
                self._client.images.get(image)
            except docker.errors.ImageNotFound:
                cache = self.config.cache_dir / f"sandbox-rootfs-{tag}.tar"
                try:
                    cache.parent.mkdir(parents=True, exist_ok=True)
                    cache.write_bytes(data)  # kept to rebuild offline; tiny
                except OSError:
                    pass
                self._client.api.import_image_from_data(data, repository=_IMAGE_REPO, tag=tag)
            self._image = image
            return image

    def close(self) -> None:
        super().close()
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                pass
            self._client = None

    def _launch(self, index: int) -> ServerHandle:
        docker = _docker_module()
        if self._client is None:
            self._check_available()
        cfg, lim = self.config, self.limits
        python = cfg.python or sys.executable
        view = compute_view(python)
        block = UidBlock.acquire(cfg.uid_base)
        uid = block.first
        ctl = tempfile.mkdtemp(prefix="lemmaflow-docker-")
        listener = None
        container = None
        try:
            os.chmod(ctl, 0o711)
            sock_path = os.path.join(ctl, "s")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(sock_path)
            listener.listen(1)
            if os.geteuid() == 0:
                os.chown(sock_path, uid, uid)
            os.chmod(sock_path, 0o600)
            mounts = [docker.types.Mount(target=p, source=p, type="bind", read_only=True) for p in view.binds]
            mounts.append(docker.types.Mount(target="/run/lfctl", source=ctl, type="bind", read_only=True))
            tmpfs = {
                "/tmp": "size=1m,mode=0755",
                view.work_root: f"size={lim.work_dir_mb}m,mode=0700,uid={uid},gid={uid}",
            }
            for h in view.hidden:
                tmpfs[h] = "ro,size=4k,mode=0000"
            mem = cfg.container_memory_mb or (lim.memory_mb + 768)
            container = self._client.containers.run(
                self._ensure_image(),
                command=[python, "-I", "-B", "-c", BOOTSTRAP, "unix:/run/lfctl/s"],
                detach=True, auto_remove=True, network_mode="none", read_only=True,
                user=f"{uid}:{uid}", cap_drop=["ALL"], security_opt=["no-new-privileges"],
                mem_limit=f"{mem}m", memswap_limit=f"{mem}m", pids_limit=cfg.pids_limit,
                nano_cpus=cfg.nano_cpus, tmpfs=tmpfs, mounts=mounts, environment=sandbox_env(view.work_root),
                working_dir=view.work_root, hostname="sandbox", ipc_mode="none",  # no /dev/shm
                labels={"lemmaflow.sandbox": "1"}, init=False,
            )
            listener.settimeout(cfg.start_timeout_s)
            try:
                conn, _ = listener.accept()
            except OSError as exc:
                logs = _container_logs(container)
                raise SandboxUnavailable(f"docker sandbox did not connect back ({exc}); container log:\n{logs}") from None
            conn.settimeout(None)
            fd = conn.detach()
        except BaseException:
            if container is not None:
                _kill_container(container)
            block.release()
            shutil.rmtree(ctl, ignore_errors=True)
            raise
        finally:
            if listener is not None:
                listener.close()

        def kill() -> None:
            _kill_container(container)

        def cleanup() -> None:
            block.release()
            shutil.rmtree(ctl, ignore_errors=True)

        handle = ServerHandle(fd, fd, kill=kill, name="docker", cleanup=cleanup,
                              log_reader=lambda: _container_logs(container))
        handle.hello(self.server_config(work_root=view.work_root), cfg.start_timeout_s)
        handle.info["host_pid"] = _container_pid(container)
        handle.info["container"] = container.id
        return handle


def _container_logs(container) -> str:
    try:
        return container.logs(tail=60).decode("utf-8", "replace")
    except Exception:
        return "(no logs: container already gone)"


def _container_pid(container) -> int:
    try:
        container.reload()
        return int(container.attrs["State"]["Pid"])
    except Exception:
        return 0


def _kill_container(container) -> None:
    # The server exits by itself once its socket closes (auto_remove then
    # deletes the container); this is the backstop for a hung one.
    try:
        container.wait(timeout=3)
        return
    except Exception:
        pass
    try:
        container.kill()
    except Exception:
        pass
    try:
        container.remove(force=True)
    except Exception:
        pass


def _rmtree_unmounting(path: Path) -> None:
    """rm -rf a daemon data root; overlay mounts left behind are detached first."""
    try:
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f]
    except OSError:
        mounts = []
    for m in sorted((m for m in mounts if m.startswith(str(path) + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


class PrivateDockerd:
    """A ``dockerd`` of our own: own data root, exec root and unix socket.

    For tests and benchmarks on machines where no daemon runs.  Needs root and
    Debian's ``docker.io`` (dockerd, containerd, runc).  No bridge and no
    iptables: sandbox containers have no network anyway.  The data root lives in
    the cache dir, so the imported image survives between runs.
    """

    def __init__(self, root: Path | None = None, start_timeout_s: float = 60.0) -> None:
        self.root = root or _cache_dir() / "dockerd"
        self._lock_fd: int | None = None
        self._tmp_root: Path | None = None
        self.run_dir = Path(tempfile.mkdtemp(prefix="lemmaflow-dockerd-"))
        self.sock = self.run_dir / "docker.sock"
        self.url = f"unix://{self.sock}"
        self.timeout = start_timeout_s
        self.proc: subprocess.Popen | None = None
        self.log_path = self.run_dir / "dockerd.log"

    def start(self) -> PrivateDockerd:
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise SandboxUnavailable("dockerd not installed: apt-get install docker.io")
        if os.geteuid() != 0:
            raise SandboxUnavailable("starting a private dockerd needs root")
        self.root.mkdir(parents=True, exist_ok=True)
        # Two daemons must never share a data root (concurrent test runs): the
        # second one gets a throw-away root and re-imports the (tiny) image.
        import fcntl

        fd = os.open(str(self.root) + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._lock_fd = fd
        except BlockingIOError:
            os.close(fd)
            self._tmp_root = Path(tempfile.mkdtemp(prefix="lemmaflow-dockerd-data-"))
            self.root = self._tmp_root
        exec_root = self.run_dir / "exec"
        argv = [
            dockerd, "--data-root", str(self.root), "--exec-root", str(exec_root),
            "--host", self.url, "--pidfile", str(self.run_dir / "dockerd.pid"),
            "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--bridge=none",
            "--userland-proxy=false", "--containerd-namespace", "lemmaflow",
            "--containerd-plugins-namespace", "lemmaflow-plugins",
        ]
        env = {**os.environ, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin:" + os.environ.get("PATH", "")}
        # Not start_new_session: a process group of its own, so that stopping
        # it reaches its containerd too.
        self.proc = subprocess.Popen(argv, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        docker = _docker_module()
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.sock.exists():
                try:
                    c = docker.DockerClient(base_url=self.url)
                    c.ping()
                    c.close()
                    return self
                except Exception:
                    pass
            time.sleep(0.2)
        log = self.log_path.read_text(errors="replace")[-3000:]
        self.stop()
        raise SandboxUnavailable(f"private dockerd did not come up; its log:\n{log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None:  # containerd and shims left in its group
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc = None
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if self._tmp_root is not None:
            _rmtree_unmounting(self._tmp_root)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> PrivateDockerd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
