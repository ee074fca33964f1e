"""benchmarks/tora_batching.py --engine sim at a tiny scale: both loops over SteppedLM, chains on plan."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_simulation_runs_both_loops_and_both_cost_models():
    r = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/tora_batching.py"), "--engine", "sim", "--n-problems", "6",
         "--max-tokens", "256", "--median-tokens", "30", "--step-ms", "1", "--repeats", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    assert out.startswith("SIMULATION") and "not a model result" in out and "OFF PLAN" not in out
    ratios = re.findall(r"continuous / round-synchronous \((gpu|cpu)\): ([\d.]+)x", out)
    assert [c for c, _ in ratios] == ["gpu", "cpu"]
    rows = re.findall(r"(continuous|round-sync) .*? steps (\d+) .*? code rounds (\d+)\s+tokens (\d+)", out)
    assert len(rows) == 4
    # Same work in every run: the code rounds and tokens of the chains' plans.
    assert len({(rd, tok) for _, _, rd, tok in rows}) == 1 and int(rows[0][2]) > 0
    # The lock-step loop's engine steps do not depend on timing: each round's longest generation.
    sync = [int(s) for name, s, _, _ in rows if name == "round-sync"]
    assert sync[0] == sync[1]


def test_simulation_replays_recorded_chain_shapes(tmp_path):
    import json

    shapes = tmp_path / "shapes.json"
    shapes.write_text(json.dumps([
        {"rounds": 1, "gens": [20, 10], "finish": "answer"},
        {"rounds": 0, "gens": [30], "finish": "length"},
        {"rounds": 2, "gens": [15, 15, 5, 5], "finish": "answer"},  # a non-code fence step joins the last one
    ]))
    r = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/tora_batching.py"), "--engine", "sim", "--replay", str(shapes),
         "--cost", "gpu", "--max-tokens", "256", "--step-ms", "1", "--repeats", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "3 chains, rounds per chain {0: 1, 1: 1, 2: 1}" in r.stdout and "OFF PLAN" not in r.stdout
    # Generations shorter than 12 tokens count as 12: (20 + 12) + 30 + (15 + 15 + 24).
    assert r.stdout.count("code rounds 3  tokens 116") == 2
