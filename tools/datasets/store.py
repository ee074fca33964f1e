"""Where dataset files are read from: an offline copy, or the user cache filled by verified downloads.

:class:`DataSource` resolves, in this order:

1. ``data_dir`` (the ``--data-dir`` option) or ``$LEMMAFLOW_DATA``: an offline copy
   with the layout of the cache (``gsm8k/test.jsonl``, ``minif2f_coq/valid/*.v``,
   ...). Nothing is downloaded; a missing file is an error.
2. Otherwise the user cache: ``cache_dir``, ``$LEMMAFLOW_DATA_CACHE``,
   ``$LEMMAFLOW_CACHE/data`` or ``~/.cache/lemmaflow/data``. A file missing there is
   downloaded from its raw URL at the pinned commit, or from
   ``<mirror>/<path>`` when ``mirror``/``$LEMMAFLOW_DATA_MIRROR`` is set.

Every file is checked against the sha256 of the registry, wherever it comes
from. A download goes to a temporary ``.part`` file in the target folder,
is fsynced, verified, then renamed over the final name (atomic), so a failed,
wrong or interrupted download leaves no file under the final name; ``.part``
files left by a killed process are removed by the next download into that
folder (a live download holds a lock on its own).

Example::

    from lemmaflow.tools.datasets.store import DataSource
    src = DataSource.resolve()                # offline copy, or the cache (downloads)
    paths = src.paths(get_dataset("gsm8k").split_files("test"))
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .registry import DataFile

__all__ = [
    "DataError",
    "DataNotFound",
    "ChecksumError",
    "DownloadError",
    "DataSource",
    "default_cache_dir",
    "sha256_file",
]

try:  # a live download holds an advisory lock on its .part file (POSIX)
    import fcntl
except ImportError:  # pragma: no cover - Windows: stale .part files stay until removed by hand
    fcntl = None  # type: ignore[assignment]


class DataError(OSError):
    """A dataset file could not be provided (base class)."""


class DataNotFound(DataError, FileNotFoundError):
    """The data folder or a file of it does not exist (offline copies are never filled in)."""


class ChecksumError(DataError):
    """A file's bytes differ from the pinned sha256 (a corrupt copy, or a mirror serving other data)."""


class DownloadError(DataError):
    """A download failed (HTTP error, connection lost, truncated body)."""


def default_cache_dir() -> Path:
    """``$LEMMAFLOW_DATA_CACHE``, else ``$LEMMAFLOW_CACHE/data``, else ``~/.cache/lemmaflow/data``."""
    if os.environ.get("LEMMAFLOW_DATA_CACHE"):
        return Path(os.environ["LEMMAFLOW_DATA_CACHE"])
    return Path(os.environ.get("LEMMAFLOW_CACHE") or Path.home() / ".cache" / "lemmaflow") / "data"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class DataSource:
    """Where files come from: ``root`` and whether it is an ``offline`` copy (never downloaded into)."""

    root: Path
    offline: bool
    origin: str  # where ``root`` came from, for messages
    mirror: str | None = None
    retries: int = 2  # extra attempts after a transient download failure (connection, 5xx, truncated)
    timeout_s: float = 60.0
    workers: int = 8  # parallel downloads (miniF2F-Coq is 490 small files)

    @classmethod
    def resolve(cls, data_dir: str | os.PathLike[str] | None = None, *, cache_dir: str | os.PathLike[str] | None = None,
                mirror: str | None = None, retries: int = 2) -> "DataSource":
        """The offline copy (``data_dir``, ``$LEMMAFLOW_DATA``) if one is named, else the cache."""
        # An explicit source wins and an explicit but wrong path is an error, never a
        # reason to fall back to another copy of the data.
        if data_dir is not None:
            root, origin = Path(data_dir), "data_dir / --data-dir"
        elif os.environ.get("LEMMAFLOW_DATA"):
            root, origin = Path(os.environ["LEMMAFLOW_DATA"]), "LEMMAFLOW_DATA"
        else:
            root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
            return cls(root=root, offline=False, origin="cache", retries=retries,
                       mirror=mirror or os.environ.get("LEMMAFLOW_DATA_MIRROR") or None)
        if not root.is_dir():
            raise DataNotFound(f"benchmark data folder not found: {root} (from {origin}); pass an existing folder "
                               "or unset it to download into the cache")
        return cls(root=root, offline=True, origin=origin)

    def path(self, f: DataFile) -> Path:
        return self.root.joinpath(*f.path.split("/"))

    def status(self, f: DataFile) -> str:
        """``ok``, ``missing`` or ``corrupt`` (hashes the file if present)."""
        p = self.path(f)
        if not p.is_file():
            return "missing"
        return "ok" if p.stat().st_size == f.size and sha256_file(p) == f.sha256 else "corrupt"

    def paths(self, files: Sequence[DataFile], *, force: bool = False,
              on_file: Callable[[DataFile, str], None] | None = None) -> list[Path]:
        """The verified local path of each file, downloading what the cache lacks.

        ``force`` downloads again even verified files (cache only). ``on_file(file,
        what)`` is called per file with ``"ok"`` or ``"downloaded"``. The first
        error is raised after the other downloads end (each file is all or nothing).
        """
        todo: list[DataFile] = []
        for f in files:
            state = "missing" if force and not self.offline else self.status(f)
            if state == "ok":
                if on_file:
                    on_file(f, "ok")
                continue
            if self.offline:
                p = self.path(f)
                if state == "missing":
                    raise DataNotFound(f"{p}: missing from the offline data copy {self.root} (from {self.origin})")
                raise ChecksumError(f"{p}: sha256 {sha256_file(p)} ({p.stat().st_size} bytes) is not the pinned "
                                    f"{f.sha256} ({f.size} bytes) of {f.repo}@{f.commit[:12]}:{f.upstream}; "
                                    "restore the original file or unset the offline copy to download it")
            todo.append(f)  # missing or corrupt in our cache: fetch it (again)
        if todo:
            self._download_all(todo, on_file)
        return [self.path(f) for f in files]

    def _download_all(self, files: list[DataFile], on_file) -> None:
        import httpx

        errors: list[BaseException] = []
        for folder in {self.path(f).parent for f in files}:
            if folder.is_dir():
                _clean_stale_parts(folder)
        # one client: its connection pool and TLS context serve every file (a client per
        # file costs more than a small file's transfer)
        client = httpx.Client(timeout=self.timeout_s, follow_redirects=True,
                              limits=httpx.Limits(max_connections=self.workers))

        lock = threading.Lock()  # on_file runs in the worker threads: one call at a time

        def one(f: DataFile) -> None:
            try:
                self._download(f, client)
            except Exception as e:  # noqa: BLE001 - collected, the first is raised below
                errors.append(e)
                return
            if on_file:
                with lock:
                    on_file(f, "downloaded")

        with client:
            if len(files) == 1 or self.workers <= 1:
                for f in files:
                    one(f)
                    if errors:
                        break
            else:
                with ThreadPoolExecutor(max_workers=min(self.workers, len(files))) as pool:
                    list(pool.map(one, files))
        if errors:
            raise errors[0]

    def _download(self, f: DataFile, client) -> None:
        """One file, with retries on transient failures; a checksum mismatch is not retried."""
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                return _fetch_verified(client, f.url(self.mirror), self.path(f), f)
            except _Transient as e:
                if attempt == self.retries:
                    raise DownloadError(f"download of {f.path} failed after {attempt + 1} attempt(s): {e}") from None
                time.sleep(delay)
                delay *= 2


class _Transient(Exception):
    """A failure worth retrying: connection trouble, HTTP 5xx/429, a truncated body."""


def _clean_stale_parts(folder: Path) -> None:
    """Remove ``.part`` files no live download holds (left by a killed process)."""
    if fcntl is None:
        return
    for part in folder.glob(".*.part"):
        try:
            fd = os.open(part, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)  # a live download owns it
            continue
        try:
            part.unlink(missing_ok=True)
        finally:
            os.close(fd)


def _new_part(dest: Path) -> tuple[int, Path]:
    """A new, locked ``.part`` file beside ``dest`` (its fd and path)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        if fcntl is None:
            return fd, Path(name)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink > 0:
            return fd, Path(name)
        # another process's cleanup took it for stale between mkstemp and flock: make another
        os.close(fd)


def _fetch_verified(client, url: str, dest: Path, f: DataFile) -> None:
    import httpx

    fd, tmp = _new_part(dest)
    try:
        with os.fdopen(fd, "wb") as out:
            h, n = hashlib.sha256(), 0
            try:
                with client.stream("GET", url) as r:
                    if r.status_code != 200:
                        msg = f"{url}: HTTP {r.status_code} {r.reason_phrase}"
                        if r.status_code >= 500 or r.status_code == 429:
                            raise _Transient(msg)
                        raise DownloadError(f"download of {f.path} failed: {msg}")
                    for chunk in r.iter_bytes(1 << 16):
                        n += len(chunk)
                        if n > f.size:
                            raise ChecksumError(f"{url}: more than the pinned {f.size} bytes of {f.path}; "
                                                "the server does not serve the pinned file")
                        h.update(chunk)
                        out.write(chunk)
            except httpx.TransportError as e:  # refused, reset, timed out, body cut short
                raise _Transient(f"{url}: {type(e).__name__}: {e}") from None
            if n < f.size:  # a server that closes early without a Content-Length
                raise _Transient(f"{url}: connection closed after {n} of {f.size} bytes")
            if h.hexdigest() != f.sha256:
                raise ChecksumError(f"{url}: sha256 {h.hexdigest()} is not the pinned {f.sha256} of {f.path} "
                                    f"({f.repo}@{f.commit[:12]}:{f.upstream}); nothing was saved")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)

