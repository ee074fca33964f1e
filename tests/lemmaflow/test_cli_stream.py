"""``lemmaflow solve`` reads its input lazily: a JSONL/CSV/Parquet file is never a list of problems.

The CLI runs in this process with a scripted engine in place of ``--backend`` (the one thing replaced);
a counting reader shows how far the file was read when each problem started, and ``read_problems`` /
``problems_from_rows`` (the materialising readers) fail if called.
"""

from __future__ import annotations

import csv
import json

import pytest

import lemmaflow.cli as cli
import lemmaflow.tools.datasets.readers as readers
from lemmaflow.agents.backends import ScriptedLM

ANSWER = "The answer is \\boxed{4}."


@pytest.fixture
def lazy_cli(monkeypatch):
    """main() with a scripted engine that notes how many input rows were read at each generate call."""
    state = {"rows": 0, "at_call": []}
    real_rows = readers.jsonl_rows

    def counting_rows(path):
        for item in real_rows(path):
            state["rows"] += 1
            yield item

    def script(prompt, i):
        state["at_call"].append(state["rows"])
        return ANSWER

    def never(*a, **k):
        raise AssertionError("the input was materialised")

    monkeypatch.setattr(readers, "jsonl_rows", counting_rows)
    monkeypatch.setattr(readers, "problems_from_rows", never)
    monkeypatch.setattr(readers, "read_problems", never)
    monkeypatch.setattr(cli, "_make_backend", lambda args: ScriptedLM(script))
    return state


def _write(path, n: int, extra: list[str] = ()) -> None:
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"p{i}", "question": f"What is {i} + {4 - i}? ({i})", "answer": "4"}) + "\n")
        for line in extra:
            f.write(line + "\n")


def test_solve_streams_a_large_jsonl_through_the_window(lazy_cli, tmp_path, capsys):
    inp, out = tmp_path / "p.jsonl", tmp_path / "r.jsonl"
    n, window = 3000, 8
    _write(inp, n, extra=["not json", json.dumps({"id": "p5", "question": "What is 5 + -1? (again)", "answer": "4"})])
    args = ["solve", "--input", str(inp), "--out", str(out), "--pipeline", "cot", "--concurrency", str(window),
            "--no-progress"]
    assert cli.main(args) == 0
    captured = capsys.readouterr()
    calls = lazy_cli["at_call"]
    assert len(calls) == n + 1  # every problem once, the one with a repeated id too
    # When the k-th problem asked the engine, at most a window's worth of rows beyond it had been read.
    assert all(rows <= k + window + 2 for k, rows in enumerate(calls, start=1)), max(r - k for k, r in enumerate(calls, 1))
    assert calls[0] <= window + 2  # the first request went out before the file was read through
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == n + 1 and all(r["status"] == "ok" and r["correct"] for r in rows)
    assert sorted(r["id"] for r in rows if r["id"] in ("p5", "p5~2")) == ["p5", "p5~2"]  # a repeated id kept unique
    assert f"{inp}:{n + 1}: skipped: invalid JSON" in captured.err  # the bad line, by its number
    # The final table: the first 200 rows by id, and counts over every problem.
    assert "200 of 3001 results shown" in " ".join(captured.out.split())
    assert "accuracy 100.0% over 3001 graded" in " ".join(captured.out.split())

    # The same command again: everything is done, nothing generated; --limit reads no further than it needs.
    lazy_cli["rows"], lazy_cli["at_call"][:] = 0, []
    assert cli.main(args) == 0
    assert "3001 already done" in " ".join(capsys.readouterr().out.split()) and not lazy_cli["at_call"]
    lazy_cli["rows"] = 0
    assert cli.main([*args[:-1], "--limit", "5", "--out", str(tmp_path / "five.jsonl"), "--no-progress"]) == 0
    assert lazy_cli["rows"] <= 5 + 2 and len((tmp_path / "five.jsonl").read_text().splitlines()) == 5


def test_solve_with_no_valid_problem_stops_before_the_engine(lazy_cli, tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n{\"nothing\": 1}\n")
    monkeypatch.setattr(cli, "_make_backend", lambda args: pytest.fail("the engine started"))
    assert cli.main(["solve", "--input", str(bad), "--out", str(tmp_path / "o.jsonl"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:1: skipped" in err and f"{bad}:2: skipped" in err and "no valid problems" in err
    assert err.count(f"{bad}:1:") == 1  # reported once, though the check and the run both read the file
    assert not (tmp_path / "o.jsonl").exists()


def test_csv_and_parquet_are_streamed_too(tmp_path, monkeypatch, capsys):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    monkeypatch.setattr(readers, "problems_from_rows", lambda *a, **k: pytest.fail("materialised"))
    monkeypatch.setattr(cli, "_make_backend", lambda args: ScriptedLM([ANSWER]))
    csv_path, pq_path = tmp_path / "p.csv", tmp_path / "p.parquet"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Q", "A"])
        for i in range(50):
            w.writerow([f"What is {i} + {4 - i}?", "4"])
        w.writerow(["one", "two", "three"])  # a bad row: more cells than the header
    table = pa.table({"problem": [f"What is {i} + {4 - i}?" for i in range(2500)], "answer": ["4"] * 2500})
    pq.write_table(table, pq_path, row_group_size=500)
    stream = readers.ProblemStream(str(pq_path))
    it = iter(stream)
    assert next(it).question == "What is 0 + 4?" and stream.total_hint() == 2500
    it.close()
    for path, extra in ((csv_path, ["--question-field", "Q", "--answer-field", "A"]), (pq_path, [])):
        out = tmp_path / f"{path.suffix[1:]}.jsonl"
        assert cli.main(["solve", "--input", str(path), *extra, "--out", str(out), "--pipeline", "cot",
                         "--concurrency", "16", "--no-progress"]) == 0
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(rows) == (50 if path == csv_path else 2500) and all(r["correct"] for r in rows)
    assert f"{csv_path}:52: skipped: 3 cells, the header has 2" in capsys.readouterr().err


def test_bench_reads_the_input_again_for_each_pipeline(lazy_cli, tmp_path, monkeypatch, capsys):
    """bench runs several pipelines over the same problems: the file is re-read per pipeline, never held."""
    passes = []
    counting = readers.jsonl_rows  # the fixture's counting reader

    def per_pass(path):
        passes.append(path)
        yield from counting(path)

    monkeypatch.setattr(readers, "jsonl_rows", per_pass)
    inp, out = tmp_path / "p.jsonl", tmp_path / "bench"
    _write(inp, 300, extra=["not json"])
    assert cli.main(["bench", "--input", str(inp), "--out", str(out), "--pipelines", "cot,sc", "--n", "2",
                     "--concurrency", "8", "--no-progress"]) == 0
    report = json.loads((out / "bench.json").read_text())
    assert report["problems"] == 300
    rows = {r["label"]: r for r in report["rows"]}
    assert rows["cot"]["problems"] == 300 and rows["cot"]["accuracy"] == 1.0 and rows["sc"]["problems"] == 300
    # the check, then per pipeline (cot, sc, the SC rows it matches) a run and a pass for the keys
    assert len(passes) >= 1 + 2 * 2
    assert capsys.readouterr().err.count(f"{inp}:301: skipped") == 1  # the bad line, reported once
