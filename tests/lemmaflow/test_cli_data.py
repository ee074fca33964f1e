"""``lemmaflow data`` and the problem-source options of solve/bench/compose/prove.

The download tests use a real HTTP server on 127.0.0.1 as the mirror (tests/data_server.py);
the last test clones the repository into a folder with no ../shared beside it and runs
the clone's own code: fetch gsm8k from the local server, then solve on the embedded model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lemmaflow.cli import main
from lemmaflow.tools.datasets import DATASETS, data_root, load_gsm8k
from tests.data_server import DataServer

ROOT = Path(__file__).resolve().parents[2]


def lemmaflow(*args, env=None, cwd=ROOT, exe=None, timeout=300):
    cmd = [exe, *args] if exe else [sys.executable, "-m", "lemmaflow", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def env_without_offline_copy(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LEMMAFLOW_DATA", "LEMMAFLOW_DATA_MIRROR")}
    return {**env, **extra}


@pytest.fixture
def server():
    with DataServer(data_root()) as s:
        yield s


def data(capsys, *args) -> tuple[int, str, str]:
    """``lemmaflow data ...`` in-process (a subprocess costs seconds of imports per call)."""
    code = main(["data", *args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture
def mirror_env(tmp_path, server, monkeypatch) -> Path:
    """No offline copy: the cache in tmp, filled from the local server."""
    monkeypatch.delenv("LEMMAFLOW_DATA", raising=False)
    monkeypatch.setenv("LEMMAFLOW_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LEMMAFLOW_DATA_MIRROR", server.url)
    return tmp_path / "cache"


def test_ls_and_path_on_the_offline_copy(capsys):
    code, out, _ = data(capsys, "ls")
    assert code == 0 and f"offline copy {data_root()}" in out
    for name, ds in DATASETS.items():
        row = next(line for line in out.splitlines() if f" {name} " in line)
        assert ds.repo in row and ds.commit[:7] in row and row.rstrip(" │").endswith("yes"), row
    code, out, _ = data(capsys, "path", "minif2f-lean4")
    assert code == 0 and out.strip() == str(data_root() / "minif2f_lean4")


def test_fetch_every_dataset_from_a_mirror_into_an_empty_cache(capsys, server, mirror_env):
    """Each registered dataset by name: downloaded, verified, then listed as local."""
    cache = mirror_env
    code, out, err = data(capsys, "fetch", "--all")
    assert code == 0, err
    total = sum(len(ds.files) for ds in DATASETS.values())
    for name, ds in DATASETS.items():
        assert f"{name}: {len(ds.files)} files verified ({len(ds.files)} downloaded) in {cache / ds.folder}" in out
    assert len(server.requests) == total and not list(cache.rglob(".*.part"))
    code, out, _ = data(capsys, "ls")
    assert f"cache {cache}" in out and out.count("yes") == len(DATASETS)
    code, out, _ = data(capsys, "path", "gsm8k:test_200")
    assert out.strip() == str(cache / "gsm8k")
    code, out, _ = data(capsys, "fetch", "gsm8k")  # already there: verified, nothing downloaded
    assert "gsm8k: 2 files verified (0 downloaded)" in out and len(server.requests) == total


def test_data_errors_are_one_line(tmp_path, capsys, server, mirror_env):
    code, _, err = data(capsys, "fetch", "gsm8k", "aime")
    assert code == 2 and "unknown dataset 'aime' (known: gsm8k, math500" in err
    assert server.requests == []  # every name is checked before anything is downloaded
    server.fail("gsm8k/test.jsonl", "corrupt")
    code, _, err = data(capsys, "fetch", "gsm8k")
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "is not the pinned" in err and "nothing was saved" in err
    assert not (mirror_env / "gsm8k" / "test.jsonl").exists()
    code, _, err = data(capsys, "path", "gsm8k:dev")
    assert code == 2 and "no split 'dev' (splits: test, test_200)" in err
    code, _, err = data(capsys, "ls", "--data-dir", str(tmp_path / "nope"))
    assert code == 1 and "benchmark data folder not found" in err


def _solve(tmp_path, capsys, *args):
    out = tmp_path / "out.jsonl"
    code = main(["solve", *args, "--out", str(out), "--no-progress"])
    return code, capsys.readouterr().err, out


@pytest.mark.parametrize("name, content, where", [
    ("bad.json", '[{"question": "a"},\n  {"question": }]', "bad.json:2:16: invalid JSON: Expecting value"),
    ("bad.csv", "prompt,target\nx,1\n", "bad.csv: no 'question' or 'problem' column"),
    ("bad.parquet", "PAR1 nope", "bad.parquet: not a readable Parquet file"),
])
def test_solve_bad_files_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, name, content, where):
    path = tmp_path / name
    path.write_text(content)
    code, err, out = _solve(tmp_path, capsys, "--input", str(path))
    assert code == 2 and where in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_solve_dataset_errors(tmp_path, capsys):
    for spec, msg in [("aime", "unknown dataset 'aime'"), ("gsm8k:dev", "no split 'dev'"),
                      ("minif2f-lean4", "minif2f-lean4 is a theorem-proving dataset (lean4): run it with lemmaflow prove"),
                      ("gsm8k:test:0", "the limit after ':' must be a positive integer")]:
        code, err, out = _solve(tmp_path, capsys, "--dataset", spec)
        assert code == 2 and msg in err and not out.exists(), (spec, err)
    with pytest.raises(SystemExit):  # one source only
        main(["solve", "--dataset", "gsm8k", "--input", "x.jsonl", "--out", str(tmp_path / "o")])


def test_every_command_resolves_a_dataset_the_same_way(tmp_path):
    """bench/compose/solve share one loader: gsm8k:test_200:3 is the first 3 problems, ids as in the file."""
    from lemmaflow.cli import build_parser
    from lemmaflow.cli_compose import _load_dev
    from lemmaflow.cli_data import load_problems_from_args

    want = [p.id for p in load_gsm8k(limit=3)]
    parser = build_parser()
    for argv in (["solve", "--dataset", "gsm8k:test_200:3", "--out", "o"],
                 ["bench", "--dataset", "gsm8k:3", "--pipelines", "sc", "--out", "o"],
                 ["bench", "--dataset", "gsm8k", "--limit", "3", "--pipelines", "sc", "--out", "o"]):
        args = parser.parse_args(argv)
        assert [p.id for p in load_problems_from_args(args, limit=args.limit).problems] == want, argv
    for dev in ("gsm8k:3", "gsm8k:test:3"):
        args = parser.parse_args(["compose", "space.yaml", "--dev", dev, "--budget-tokens", "1", "--out", "o"])
        assert [p.id for p in _load_dev(args).problems] == want
    csv = tmp_path / "dev.csv"
    csv.write_text("Q,A\n1+1?,2\n")
    args = parser.parse_args(["compose", "space.yaml", "--input", str(csv), "--question-field", "Q",
                              "--answer-field", "A", "--budget-tokens", "1", "--out", "o"])
    assert [p.gold for p in _load_dev(args).problems] == ["2"]
    args = parser.parse_args(["prove", "--dataset", "minif2f-coq:test:2", "--out", "o"])
    from lemmaflow.cli_prove import load_dataset

    assert [p.split for p in load_dataset(args.dataset, args.data_dir)] == ["test", "test"]
    assert [(p.name, p.split) for p in load_dataset("minif2f-lean4:test:1")] == [("mathd_algebra_478", "test")]
    with pytest.raises(ValueError, match="lemmaflow prove runs on Coq datasets .* and Lean 4 datasets"):
        load_dataset("gsm8k")


def test_prove_input_reads_coq_files(tmp_path):
    from lemmaflow.cli_prove import load_dataset, load_input

    src = data_root() / "minif2f_coq" / "valid"
    for name in ("mathd_algebra_109.v", "mathd_numbertheory_24.v"):
        shutil.copy(src / name, tmp_path / name)
    mine = load_input(str(tmp_path))
    ref = {p.name: p for p in load_dataset("minif2f-coq:valid")}
    assert [(p.name, p.statement, p.header) for p in mine] == [(n, ref[n].statement, ref[n].header)
                                                               for n in ("mathd_algebra_109", "mathd_numbertheory_24")]
    with pytest.raises(FileNotFoundError, match="no .v file"):
        load_input(str(tmp_path / "empty"))


def _layered_venv(tmp_path: Path, project: Path) -> Path:
    """A venv on this interpreter's packages with ``project`` installed editable (its code, not ours)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    # Plain path lines: the .pth files in these folders (our own editable install) are not run.
    layers = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "zz_layers.pth").write_text("\n".join(layers) + "\n")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                        "--no-deps", "--no-build-isolation", "--no-index", "-e", str(project)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return venv


@pytest.mark.embedded
def test_a_fresh_clone_fetches_gsm8k_and_solves_it(tmp_path, server):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    assert not (clone.parent / "shared").exists()
    venv = _layered_venv(tmp_path, clone)
    exe = str(venv / "bin" / "lemmaflow")
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import lemmaflow.tools.datasets as d; print(d.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env_without_offline_copy())
    assert probe.stdout.strip().startswith(str(clone)), probe  # the clone's code runs, not this tree's
    cache = tmp_path / "cache"
    env = env_without_offline_copy(LEMMAFLOW_DATA_CACHE=str(cache), LEMMAFLOW_DATA_MIRROR=server.url)

    r = lemmaflow("data", "fetch", "gsm8k", exe=exe, env=env, cwd=clone)
    assert r.returncode == 0, r.stderr
    assert f"gsm8k: 2 files verified (2 downloaded) in {cache / 'gsm8k'}" in r.stdout
    assert sorted(server.requests) == ["gsm8k/LICENSE", "gsm8k/test.jsonl"]

    out = tmp_path / "runs" / "gsm8k.jsonl"
    r = lemmaflow("solve", "--dataset", "gsm8k", "--limit", "2", "--pipeline", "sc", "--n", "2", "--max-tokens", "16",
                  "--out", str(out), "--no-progress", exe=exe, env=env, cwd=clone, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(row["id"], row["gold"]) for row in rows] == [("gsm8k-0", "18"), ("gsm8k-1", "3")]
    assert all(row["status"] == "ok" for row in rows), rows
    assert len(server.requests) == 2  # solve read the verified cache, downloading nothing
