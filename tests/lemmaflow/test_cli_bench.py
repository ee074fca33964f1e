"""``lemmaflow bench``, ``lemmaflow trace show`` and quiet engine logs through the CLI."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lemmaflow.cli import BUILTIN_PIPELINES, build_parser
from lemmaflow.cli_bench import _resolve, sample_count

from ..agents.trace_emit import CHOSEN, TREE, emit_search_tree
from .test_cli import EXAMPLES, ROOT, lemmaflow


def test_bench_help_and_registration():
    r = lemmaflow("bench", "--help")
    assert r.returncode == 0
    for flag in ("--pipelines", "--pipeline", "--dataset", "--input", "--out", "--sc-baseline", "--verbose",
                 "--model-for", "--backend", "--set"):
        assert flag in r.stdout
    assert "resum" in r.stdout.lower()
    args = build_parser().parse_args(["bench", "--dataset", "gsm8k:2", "--pipelines", "sc,cot", "--out", "x"])
    assert callable(args.handler)


@pytest.mark.parametrize("name", BUILTIN_PIPELINES)
def test_every_builtin_pipeline_resolves_with_bench_overrides(name):
    """The lead's full bench names every built-in: each takes --n/--max-tokens and the SC baseline's n."""
    pipe = _resolve(name, {"n": 2, "temperature": None, "max_tokens": 32}, [])
    assert pipe.graph.number_of_nodes() >= 1


def test_set_applies_only_to_pipelines_with_that_node():
    sets = ["cot.temperature=0.3"]
    cot = _resolve("cot", {}, sets)
    assert cot.graph.nodes["cot"]["node"].config.temperature == 0.3
    sc = _resolve("sc", {"n": 3}, sets)  # no node named cot: left alone, no error
    assert sample_count(sc) == 3 and sc.graph.nodes["sc"]["node"].config.temperature == 0.7
    assert sample_count(_resolve("tora_sc", {"n": 5}, [])) == 5  # a vote node's k


def test_bench_bad_inputs_are_clear_errors(tmp_path):
    r = lemmaflow("bench", "--input", str(EXAMPLES), "--pipelines", "cot,nope", "--out", str(tmp_path))
    assert r.returncode == 2 and "no built-in pipeline 'nope'" in r.stderr
    r = lemmaflow("bench", "--dataset", "aime:3", "--pipelines", "cot", "--out", str(tmp_path))
    assert r.returncode == 2 and "unknown dataset 'aime'" in r.stderr
    r = lemmaflow("bench", "--input", str(EXAMPLES), "--pipelines", "cot", "--set", "zzz.n=3", "--out", str(tmp_path))
    assert r.returncode == 2 and "zzz.n=3" in r.stderr
    r = lemmaflow("bench", "--input", str(EXAMPLES), "--out", str(tmp_path))
    assert r.returncode == 2 and "at least one pipeline" in r.stderr


def test_trace_show_text_and_html(tmp_path):
    trace = tmp_path / "t.jsonl"
    emit_search_tree("p-search").save_jsonl(trace)
    emit_search_tree("other").save_jsonl(trace)
    listing = lemmaflow("trace", "show", str(trace))
    assert listing.returncode == 0 and "p-search" in listing.stdout and "other" in listing.stdout
    text = lemmaflow("trace", "show", str(trace), "--problem", "p-search")
    assert text.returncode == 0
    assert [int(x) for x in re.findall(r"^\s*\* \[node (\d+)", text.stdout, re.M)] == CHOSEN
    out = tmp_path / "page.html"
    r = lemmaflow("trace", "show", str(trace), "--problem", "p-search", "--html", str(out))
    assert r.returncode == 0 and f"{len(TREE)} nodes" in r.stdout
    page = out.read_text()
    assert page.count('class="node ') == len(TREE) and "<script>alert" not in page
    missing = lemmaflow("trace", "show", str(trace), "--problem", "nope")
    assert missing.returncode == 2 and "no problem 'nope'" in missing.stderr and "p-search" in missing.stderr


def test_importing_lemmaflow_leaves_logging_alone():
    """Quieting is the CLI's business: a library user's process keeps its environment."""
    code = ("import os, lemmaflow, lemmaflow.cli, lemmaflow.cli_bench, lemmaflow.engine_logs; "
            "print(any(k in os.environ for k in lemmaflow.engine_logs.QUIET_ENV))")
    env = {k: v for k, v in __import__("os").environ.items() if k not in
           ("VLLM_LOGGING_LEVEL", "TRANSFORMERS_VERBOSITY", "TRANSFORMERS_NO_ADVISORY_WARNINGS",
            "TOKENIZERS_PARALLELISM", "TORCH_CPP_LOG_LEVEL")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


# vLLM's own log line format ("(MainProcess pid=1) INFO 11-24 23:25:48 [model.py:733] ..."); it logs to stdout.
VLLM_LOG = re.compile(r"\b(INFO|WARNING|DEBUG) \d\d-\d\d \d\d:\d\d:\d\d \[")


@pytest.mark.embedded
@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_solve_quiet_by_default_verbose_shows_engine_logs(tmp_path, verbose):
    args = ["solve", "--input", str(EXAMPLES), "--limit", "1", "--pipeline", "cot", "--max-tokens", "8",
            "--out", str(tmp_path / "o.jsonl"), "--no-progress"] + (["--verbose"] if verbose else [])
    r = lemmaflow(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    info = VLLM_LOG.findall(r.stdout + r.stderr)
    if verbose:
        assert len(info) >= 5, (r.stdout + r.stderr)[-2000:]
    else:
        assert info == [], (r.stdout + r.stderr)[-2000:]
        assert "Loading safetensors" not in r.stderr and "FutureWarning" not in r.stderr
        assert "model embedded loaded" in r.stderr


@pytest.mark.embedded
def test_bench_end_to_end_on_the_embedded_model(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(EXAMPLES.read_text().splitlines()[:2]) + "\n")
    out = tmp_path / "bench"
    args = ["bench", "--input", str(inp), "--pipelines", "cot,sc", "--n", "2", "--max-tokens", "32",
            "--out", str(out), "--traces", "--no-progress"]
    r = lemmaflow(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert VLLM_LOG.findall(r.stdout + r.stderr) == []
    report = json.loads((out / "bench.json").read_text())
    rows = {x["label"]: x for x in report["rows"]}
    assert report["problems"] == 2 and report["model"].startswith("SmolLM2")
    # sc at --n 2 is the SC reference itself; cot gets a matched SC row.
    assert rows["sc"]["kind"] == "pipeline" and "sc@2" not in rows
    matched = [x for x in report["rows"] if x["kind"] == "sc_matched"]
    assert len(matched) == 1 and matched[0]["matched_to"] == ["cot"]
    for x in report["rows"]:
        assert x["problems"] == 2 and x["failed"] == 0 and x["graded"] == 2  # ran, budgeted, graded
        assert 0 < x["mean_completion_tokens"] <= 32 * x["mean_samples"]
        lo, hi = x["ci"]
        assert 0 <= lo <= (x["accuracy"] or 0) <= hi <= 1
    assert rows["sc"]["mean_samples"] == 2 and rows["cot"]["mean_samples"] == 1
    md = (out / "bench.md").read_text()
    assert "| cot | pipeline |" in md and "Wilson" in md
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "lemmaflow bench" in r.stdout
    # The traces feed the trace viewer.
    sc_trace = out / "traces" / "sc.jsonl"
    pid = json.loads(sc_trace.read_text().splitlines()[0])["problem_id"]
    show = lemmaflow("trace", "show", str(sc_trace), "--problem", pid)
    assert show.returncode == 0 and "vote at sc" in show.stdout
    # Rerun: every pipeline's problems are already done.
    r2 = lemmaflow(*args)
    assert r2.returncode == 0, r2.stderr[-2000:]
    assert len(re.findall(r"0 solved now, 2 already done", r2.stderr)) == 3
    assert json.loads((out / "bench.json").read_text())["rows"] == report["rows"]
