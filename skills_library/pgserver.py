"""A throwaway local PostgreSQL server (own data dir, unix-socket dir and port) for tests and benchmarks.

Uses the Debian ``postgresql`` binaries (``/usr/lib/postgresql/<ver>/bin``). PostgreSQL refuses
to run as root, so as root the server runs as the ``postgres`` system user (``runuser``).
Authentication is ``trust`` on 127.0.0.1 only; never use this for a real deployment.

Example::

    from lemmaflow.skills_library.pgserver import LocalPostgres
    with LocalPostgres() as pg:
        url = pg.create_database("lib1")        # postgresql://postgres@127.0.0.1:PORT/lib1
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["LocalPostgres", "PostgresUnavailable", "find_pg_bin"]


class PostgresUnavailable(RuntimeError):
    pass


def find_pg_bin() -> Path:
    """The directory holding ``initdb``/``pg_ctl`` (highest installed version)."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name)
                  if Path(d).parent.name.isdigit() else 0)
    for d in reversed(dirs):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    raise PostgresUnavailable("PostgreSQL server binaries not found: apt-get install postgresql "
                              "(scripts/setup.sh does it as root)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalPostgres:
    def __init__(self, base_dir: str | Path | None = None):
        self.bin = find_pg_bin()
        self._own_dir = base_dir is None
        self.dir = Path(base_dir or tempfile.mkdtemp(prefix="lemmaflow-pg-"))
        self.data = self.dir / "data"
        self.sock = self.dir / "sock"
        self.port = _free_port()
        self._user = None
        if os.geteuid() == 0:
            try:
                self._user = pwd.getpwnam("postgres")
            except KeyError as e:
                raise PostgresUnavailable("running as root and there is no 'postgres' user to run the server as") from e
        self.started = False

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self._user is not None:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")
        if r.returncode != 0:
            raise PostgresUnavailable(f"{args[0]} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}")
        return r

    def start(self) -> "LocalPostgres":
        self.sock.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            for p in (self.dir, self.sock):
                os.chown(p, self._user.pw_uid, self._user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--locale=C.UTF-8")
        opts = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=100 -c shared_buffers=128MB")
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.dir / "server.log"), "-w", "start")
        self.started = True
        return self

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.started:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
            except PostgresUnavailable:
                pass
            self.started = False
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "LocalPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
