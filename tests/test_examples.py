"""The examples run as documented."""

import subprocess
import sys
from pathlib import Path

import pytest

from lemmaflow.agents.spec import load_pipeline

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("spec", sorted((ROOT / "examples" / "pipelines").glob("*.yaml")), ids=lambda p: p.name)
def test_example_specs_load(spec):
    assert load_pipeline(spec).to_spec()["nodes"]


def test_custom_pipeline_wiring_with_scripted_model():
    r = run("examples/custom_pipeline.py", "--scripted")
    assert r.returncode == 0, r.stderr
    assert "ok {'answer': '42', 'abstained': False}" in r.stdout


@pytest.mark.embedded
def test_solve_gsm8k_example_on_embedded_model(tmp_path):
    out = tmp_path / "r.jsonl"
    r = run("examples/solve_gsm8k.py", "--limit", "2", "--n", "2", "--max-tokens", "24", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "gsm8k-0: answer=" in r.stdout and "accuracy" in r.stdout
    assert len(out.read_text().splitlines()) == 2


@pytest.mark.embedded
def test_readme_python_snippet_runs(tmp_path):
    """The README's Python API example, verbatim, on the real embedded model."""
    import re

    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "runs").mkdir()
    script = tmp_path / "snippet.py"
    script.write_text(snippet)
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    # vLLM logs to stdout too: find the snippet's own `print(result.status, ...)` line.
    statuses = [ln.split()[0] for ln in r.stdout.splitlines() if ln.split()[:1] in (["ok"], ["budget_exhausted"])]
    assert statuses, r.stdout[-2000:]
    assert (tmp_path / "runs" / "trace.jsonl").exists()
