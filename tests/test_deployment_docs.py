"""docs/deployment.md: every command that can run on this machine is run here, verbatim from the page.

The GPU ones (in-process vLLM on CUDA, `vllm serve`, a multi-GPU Ray cluster) are marked ``gpu`` and
skip with that reason where no GPU exists; installing commands (pip, scripts/setup.sh) and the ones
that need another host (a system PostgreSQL service, other Ray nodes) are listed as not run, and
still must appear on the page as written.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "deployment.md").read_text()

ONE_MACHINE = [
    "lemmaflow setup-model",
    "lemmaflow solve --input examples/problems/easy_arithmetic.jsonl --pipeline cot --max-tokens 32 --limit 2 "
    "--no-progress --out runs/one-machine.jsonl",
]
GPU = [  # need CUDA GPUs and model weights
    "lemmaflow solve --input problems.jsonl --pipeline tora --backend vllm --model Qwen/Qwen2.5-Math-1.5B-Instruct "
    "--out runs/tora.jsonl",
    "lemmaflow solve --input problems.jsonl --pipeline tora --backend vllm --model Qwen/Qwen2.5-Math-1.5B-Instruct "
    "--ray --workers 4 --out runs/tora.jsonl",
    "vllm serve Qwen/Qwen2.5-Math-7B-Instruct --data-parallel-size 4 --port 8000",
    "vllm serve Qwen/Qwen2.5-72B-Instruct --tensor-parallel-size 4 --data-parallel-size 2 --port 8000",
    "lemmaflow solve --input problems.jsonl --pipeline sc --n 16 --backend openai --model Qwen/Qwen2.5-Math-7B-Instruct "
    "--base-url http://gpu1:8000/v1 --base-url http://gpu2:8000/v1 --concurrency 512 --out runs/sc.jsonl",
    'lemmaflow solve --input problems.jsonl --pipeline tool_user --library "$LEMMAFLOW_LIBRARY" --backend vllm '
    "--model Qwen/Qwen2.5-Math-7B-Instruct --ray auto --workers 16 --out runs/tool_user.jsonl",
    "lemmaflow bench --input problems.jsonl --pipelines sc,tora --n 8 --backend vllm --model "
    "Qwen/Qwen2.5-Math-7B-Instruct --ray auto --workers 16 --out runs/bench",
    # its CPU form (a local Ray cluster, real Coq in each worker): tests/agents/distributed/test_ray_prover.py
    "lemmaflow solve --pipeline whole_proof --input theorems.jsonl --prover coq --prover-pool-size 4 --backend vllm "
    "--model deepseek-ai/DeepSeek-Prover-V1.5-RL --ray auto --workers 8 --out runs/wp.jsonl",
]
NOT_RUN = [  # installs, or other hosts: a system PostgreSQL service, a multi-node Ray cluster
    "scripts/setup.sh",
    "pip install -e '.[vllm,library,sandbox]'",
    "pip install -e '.[vllm,library,sandbox,ray]'",
    "sudo -u postgres psql -c \"CREATE USER lemmaflow PASSWORD 'change-me'\"",
    "sudo -u postgres createdb -O lemmaflow lemmaflow",
    "export LEMMAFLOW_LIBRARY=postgresql://lemmaflow:change-me@db-host:5432/lemmaflow",
    "export RAY_AUTH_MODE=token",
    "ray start --head --port 6379",
    "ray start --address head-host:6379",
]
RAY_HEAD = 'ray start --head --port "$RAY_PORT" --num-cpus 2 --include-dashboard false --disable-usage-stats --block'
RAY_LOCAL = [
    'lemmaflow solve --input examples/problems/easy_arithmetic.jsonl --pipeline cot --max-tokens 32 --limit 2 '
    '--library "$LEMMAFLOW_LIBRARY" --ray "127.0.0.1:$RAY_PORT" --workers 1 --worker-cpus 1 --no-progress '
    "--out runs/ray-local.jsonl",
    'lemmaflow library stats --library "$LEMMAFLOW_LIBRARY"',
]


def test_every_command_listed_here_is_on_the_page_verbatim():
    for cmd in [*ONE_MACHINE, *GPU, *NOT_RUN, RAY_HEAD, *RAY_LOCAL]:
        assert cmd in DOC, cmd


def _has_gpu() -> bool:
    smi = shutil.which("nvidia-smi")
    return bool(smi) and subprocess.run([smi], capture_output=True).returncode == 0


@pytest.mark.gpu
@pytest.mark.parametrize("cmd", GPU, ids=[f"gpu{i}" for i in range(len(GPU))])
def test_gpu_commands(cmd):
    if not _has_gpu():
        pytest.skip("needs a CUDA GPU and the model's weights (none on this machine)")
    assert shutil.which(cmd.split()[0]), f"{cmd.split()[0]} is not installed"


def _env(tmp_path: Path, **extra: str) -> dict:
    """PATH with this interpreter's scripts first; `ray` runs under this interpreter (its workers too)."""
    shim = tmp_path / "bin"
    shim.mkdir(exist_ok=True)
    (shim / "ray").write_text(f"#!/bin/sh\nexec {sys.executable} -c \"import sys; from ray.scripts.scripts import main; "
                              f"sys.argv[0] = 'ray'; sys.exit(main())\" \"$@\"\n")
    (shim / "ray").chmod(0o755)
    path = os.pathsep.join([str(shim), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, **extra}


def _workdir(tmp_path: Path) -> Path:
    """The page's relative paths (examples/, runs/) in a scratch folder, not in the checkout."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples")
    return work


def _run(cmd: str, cwd: Path, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    assert cmd in DOC, cmd
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.embedded
def test_one_machine_embedded_solve(tmp_path):
    work, env = _workdir(tmp_path), _env(tmp_path)
    for cmd in ONE_MACHINE:
        r = _run(cmd, work, env)
        assert r.returncode == 0, (cmd, r.stderr[-3000:])
    rows = [json.loads(line) for line in (work / "runs" / "one-machine.jsonl").read_text().splitlines()]
    assert [r["id"] for r in sorted(rows, key=lambda r: r["id"])] == ["ex-add", "ex-mul"]
    assert all(r["status"] in ("ok", "budget_exhausted") and r["model"].startswith("SmolLM2") for r in rows)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.embedded
def test_ray_cluster_with_the_postgres_library(tmp_path, pg_server):
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'lemmaflow[ray]'")
    pg = pg_server
    port = _free_port()
    work = _workdir(tmp_path)
    # `export RAY_AUTH_MODE=token` of the page, for the head and the driver alike
    env = _env(tmp_path, RAY_PORT=str(port), LEMMAFLOW_LIBRARY=pg.create_database("deploy"), RAY_AUTH_MODE="token")
    assert RAY_HEAD in DOC
    head = subprocess.Popen(["bash", "-c", f"exec {RAY_HEAD}"], cwd=work, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # the head is up when its GCS port answers
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None, head.stdout.read()[-3000:]
                time.sleep(1)
        solve = _run(RAY_LOCAL[0], work, env)
        assert solve.returncode in (0, 1), solve.stderr[-3000:]  # 1: a problem failed (the tiny model), not the run
        rows = [json.loads(line) for line in (work / "runs" / "ray-local.jsonl").read_text().splitlines()]
        assert sorted(r["id"] for r in rows) == ["ex-add", "ex-mul"]
        assert all(r["model"].startswith("SmolLM2") for r in rows)
        stats = _run(RAY_LOCAL[1], work, env)
        assert stats.returncode == 0, stats.stderr[-3000:]
        graded = sum(r["correct"] is not None for r in rows)
        assert f"problems: {graded} recorded" in stats.stdout  # the worker recorded them in PostgreSQL
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # what Ctrl-C does: the head drains and stops its processes
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
