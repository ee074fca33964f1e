"""Downloading registered datasets into the cache, against a real HTTP server on 127.0.0.1.

The server serves the session's offline copy (tests/conftest.py), byte-identical to the
pinned upstream files, and injects faults: a wrong byte, an error mid-file, a stall
while the downloading process is killed. After every failure the cache holds no file
under its final name and no partial file, and the next attempt succeeds.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lemmaflow.tools.datasets import (
    ChecksumError,
    DataSource,
    DownloadError,
    data_root,
    fetch_dataset,
    get_dataset,
    load_dataset,
    load_folio,
)
from lemmaflow.tools.datasets.store import _clean_stale_parts, sha256_file
from tests.data_server import DataServer

FOLIO = "folio/folio-validation.jsonl"


@pytest.fixture
def server():
    with DataServer(data_root()) as s:  # the offline copy the session points at
        yield s


def cache(tmp_path: Path, server: DataServer, retries: int = 1) -> DataSource:
    return DataSource(root=tmp_path / "cache", offline=False, origin="test", mirror=server.url, retries=retries)


def leftovers(src: DataSource) -> list[str]:
    """Every file in the cache (partial downloads included: they are dot files)."""
    return sorted(p.relative_to(src.root).as_posix() for p in src.root.rglob("*") if p.is_file())


def test_fetch_verifies_every_file_and_loads_the_same_problems(tmp_path, server):
    src = cache(tmp_path, server)
    seen = []
    folder = fetch_dataset("folio", src, on_file=lambda f, what: seen.append((f.path, what)))
    assert folder == src.root / "folio"
    assert sorted(seen) == [("folio/LICENSE", "downloaded"), (FOLIO, "downloaded")]
    assert leftovers(src) == ["folio/LICENSE", FOLIO]
    for f in get_dataset("folio").files:
        assert sha256_file(src.path(f)) == f.sha256
    assert load_folio(src) == load_folio()  # same problems as from the offline copy
    n = len(server.requests)
    assert load_dataset("folio:5", data_dir=src) == load_folio()[:5]
    assert len(server.requests) == n  # verified files are not downloaded again
    fetch_dataset("folio", src, force=True)
    assert len(server.requests) == n + 2


def test_wrong_hash_is_an_error_and_saves_nothing(tmp_path, server):
    src = cache(tmp_path, server)
    server.fail(FOLIO, "corrupt")
    with pytest.raises(ChecksumError, match=f"is not the pinned .* of {FOLIO} .*; nothing was saved"):
        load_folio(src)
    assert leftovers(src) == []
    assert server.requests.count(FOLIO) == 1  # a wrong file is not retried: the mirror serves other data
    assert len(load_folio(src)) == 204  # the next attempt (good server) succeeds
    assert leftovers(src) == [FOLIO]


def test_server_error_mid_file_is_retried_then_reported(tmp_path, server):
    src = cache(tmp_path, server, retries=1)
    server.fail(FOLIO, "cut")  # once: the retry succeeds within the same call
    assert len(load_folio(src)) == 204 and server.requests.count(FOLIO) == 2
    (src.root / FOLIO).unlink()
    server.fail(FOLIO, "cut", "500")  # every attempt fails
    with pytest.raises(DownloadError, match=f"download of {FOLIO} failed after 2 attempt"):
        load_folio(src)
    assert leftovers(src) == []
    assert len(load_folio(src)) == 204 and leftovers(src) == [FOLIO]


def test_missing_file_on_the_mirror_is_not_retried(tmp_path, server):
    src = DataSource(root=tmp_path / "cache", offline=False, origin="test", mirror=server.url + "/nowhere", retries=2)
    with pytest.raises(DownloadError, match="HTTP 404"):
        load_folio(src)
    assert len(server.requests) == 1 and leftovers(src) == []


def test_a_corrupted_cache_file_is_downloaded_again(tmp_path, server):
    src = cache(tmp_path, server)
    load_folio(src)
    path = src.root / FOLIO
    path.write_bytes(path.read_bytes()[:-10])
    assert len(load_folio(src)) == 204
    assert sha256_file(path) == next(f.sha256 for f in get_dataset("folio").files if f.path == FOLIO)


def test_interrupted_download_leaves_no_file_and_the_retry_cleans_up(tmp_path, server):
    """kill -9 in the middle of a download: no final file; the next fetch removes the .part and succeeds."""
    root = tmp_path / "cache"
    server.fail(FOLIO, "stall")
    env = {k: v for k, v in os.environ.items() if k != "LEMMAFLOW_DATA"}
    child = subprocess.Popen(
        [sys.executable, "-m", "lemmaflow", "data", "fetch", "folio", "--cache-dir", str(root), "--mirror", server.url],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert server.stalled.wait(60), "the download never started"
        deadline = time.monotonic() + 10

        def parts() -> list[Path]:
            return [p for p in (root / "folio").glob(".folio-validation.jsonl.*.part") if p.stat().st_size > 0]

        while not parts() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert parts(), "no partial file while the download stalls"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert not (root / FOLIO).exists()
    server.release()
    r = subprocess.run([sys.executable, "-m", "lemmaflow", "data", "fetch", "folio", "--cache-dir", str(root),
                        "--mirror", server.url], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "folio: 2 files verified" in r.stdout
    assert sorted(p.name for p in (root / "folio").iterdir()) == ["LICENSE", "folio-validation.jsonl"]


def test_a_live_partial_download_is_not_removed(tmp_path):
    part = tmp_path / ".x.jsonl.abc.part"
    part.write_bytes(b"half")
    with open(part, "rb+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # another process downloading
        _clean_stale_parts(tmp_path)
        assert part.exists()
    _clean_stale_parts(tmp_path)  # its owner died: stale
    assert not part.exists()


def test_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv("LEMMAFLOW_DATA", raising=False)
    monkeypatch.setenv("LEMMAFLOW_DATA_CACHE", str(tmp_path / "c1"))
    monkeypatch.setenv("LEMMAFLOW_DATA_MIRROR", "http://127.0.0.1:9/m")
    src = DataSource.resolve()
    assert (src.root, src.offline, src.mirror) == (tmp_path / "c1", False, "http://127.0.0.1:9/m")
    assert get_dataset("gsm8k").files[1].url(src.mirror) == "http://127.0.0.1:9/m/gsm8k/test.jsonl"
    monkeypatch.delenv("LEMMAFLOW_DATA_CACHE")
    monkeypatch.setenv("LEMMAFLOW_CACHE", str(tmp_path / "c2"))
    assert DataSource.resolve().root == tmp_path / "c2" / "data"
    assert DataSource.resolve(cache_dir=tmp_path / "c3").root == tmp_path / "c3"
    monkeypatch.setenv("LEMMAFLOW_DATA", str(tmp_path))
    assert DataSource.resolve().offline and DataSource.resolve().root == tmp_path
    (tmp_path / "offline").mkdir()
    assert DataSource.resolve(data_dir=tmp_path / "offline").root == tmp_path / "offline"  # the argument wins
    monkeypatch.delenv("LEMMAFLOW_DATA")
    monkeypatch.delenv("LEMMAFLOW_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert DataSource.resolve().root == tmp_path / "home" / ".cache" / "lemmaflow" / "data"
