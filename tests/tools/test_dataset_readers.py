"""Problem sources besides JSONL: JSON, CSV, Parquet and Hugging Face datasets (local only, never downloaded)."""

from __future__ import annotations

import json

import pytest

from lemmaflow.tools.datasets import Columns, InputError, load_gsm8k, read_problems
from lemmaflow.tools.datasets.readers import _parse_hf, input_format, place_unit

ROWS = [
    {"q": "What is 2+2?", "a": "4", "k": "p1"},
    {"q": "What is 10/4?", "a": "5/2", "k": "p2"},
    {"q": "No gold here", "a": None, "k": "p3"},
]
COLS = Columns(question="q", answer="a", id="k")


def test_format_by_name():
    assert [input_format(s) for s in ("a.jsonl", "a.JSON", "b.csv", "c.parquet", "hf:x/y:test", "d.txt")] == [
        "jsonl", "json", "csv", "parquet", "hf", "jsonl"]
    assert place_unit("a.csv") == "line" and place_unit("a.json") == "row" and place_unit("hf:a:b") == "row"


def test_json_array_object_and_mapping(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(ROWS + [{"q": "missing answer column"}, {"a": 1, "k": "x"}]))
    loaded = read_problems(str(path), COLS)
    assert [(p.id, p.question, p.gold) for p in loaded.problems] == [
        ("p1", "What is 2+2?", "4"), ("p2", "What is 10/4?", "5/2"), ("p3", "No gold here", None)]
    assert [place for place, _ in loaded.errors] == [4, 5]  # 1-based rows
    assert "no field 'a'" in loaded.errors[0][1] and "no field 'q'" in loaded.errors[1][1]
    # an object holding one array of rows (a common export); usual field names need no mapping
    path.write_text(json.dumps({"version": 2, "data": [{"question": "1+1?", "answer": "2"}]}))
    assert [p.gold for p in read_problems(str(path)).problems] == ["2"]
    # JSONL saved as .json is read line by line
    path.write_text('{"question": "1+1?", "answer": "2"}\n{"question": "2+2?", "answer": "4"}\n')
    assert [p.gold for p in read_problems(str(path)).problems] == ["2", "4"]


@pytest.mark.parametrize("text, where", [
    ('[{"question": "a", "answer": "1"},\n {"question": "b" "answer": 2}]', "p.json:2:19: invalid JSON: Expecting ',' delimiter"),
    ('{"a": 1, "b": 2}', "p.json: expected a JSON array of rows"),
    ('"just a string"', "p.json: expected a JSON array of rows, got str"),
    ("", "p.json:1:1: invalid JSON"),
])
def test_bad_json_files_name_the_place(tmp_path, text, where):
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(InputError, match=where):
        read_problems(str(path))


def test_csv_rows_lines_and_mapping(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('prompt,target,extra\n"What is\n2+2?",4,x\n"Empty gold",,y\n"Too many",1,2,3\nplain,7,z\n',
                    encoding="utf-8")
    loaded = read_problems(str(path), Columns(question="prompt", answer="target"))
    assert [(p.question, p.gold) for p in loaded.problems] == [("What is\n2+2?", "4"), ("Empty gold", None),
                                                              ("plain", "7")]
    assert loaded.problems[0].meta == {"extra": "x"}
    assert loaded.errors == [(5, "4 cells, the header has 3")]  # line 5: the quoted cell spans lines 2-3
    # without a mapping, the question column must be named
    with pytest.raises(InputError, match=r"p.csv: no 'question' or 'problem' column \(columns: prompt, target, extra\)"):
        read_problems(str(path))
    with pytest.raises(InputError, match="p.csv: no column 'answer_text'"):
        read_problems(str(path), Columns(question="prompt", answer="answer_text"))
    # a header cell holding a newline or a comma is quoted: the error stays one readable line
    (tmp_path / "odd.csv").write_text('"multi\nline","a,b", pad ,' + ",".join(f"c{i}" for i in range(30)) + "\n1,2,3" + ",0" * 30 + "\n")
    with pytest.raises(InputError) as e:
        read_problems(str(tmp_path / "odd.csv"))
    assert "\n" not in str(e.value)
    assert "(columns: 'multi\\nline', 'a,b', ' pad ', c0, c1," in str(e.value) and "… (33 in all)" in str(e.value)
    (tmp_path / "bom.csv").write_bytes("\ufeffquestion,answer\n1+1?,2\n".encode())  # saved by a spreadsheet
    assert [p.gold for p in read_problems(str(tmp_path / "bom.csv")).problems] == ["2"]
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty.csv:1: empty CSV file"):
        read_problems(str(tmp_path / "empty.csv"))
    (tmp_path / "latin.csv").write_bytes(b"question,answer\nok,1\ncaf\xe9,2\n")
    with pytest.raises(InputError, match="latin.csv:3: not UTF-8 text"):
        read_problems(str(tmp_path / "latin.csv"))


def test_parquet_file(tmp_path):
    pa = pytest.importorskip("pyarrow")  # the `hf` extra; installed by scripts/setup.sh
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    loaded = read_problems(str(path), COLS)
    assert [(p.id, p.gold) for p in loaded.problems] == [("p1", "4"), ("p2", "5/2"), ("p3", None)]
    with pytest.raises(InputError, match=r"p.parquet: no column 'answer' \(columns: q, a, k\)"):
        read_problems(str(path), Columns(question="q", answer="answer"))
    # GSM8K's own rows as Parquet (how the Hub stores it) read exactly like the JSONL
    gsm = load_gsm8k(limit=20)
    pq.write_table(pa.Table.from_pylist([{"question": p.question, "answer": p.meta["solution"]} for p in gsm]),
                   tmp_path / "gsm.parquet")
    assert [(p.id, p.gold) for p in read_problems(str(tmp_path / "gsm.parquet")).problems] == [(p.id, p.gold) for p in gsm]
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="bad.parquet: not a readable Parquet file"):
        read_problems(str(tmp_path / "bad.parquet"))


def test_parse_hf_specs(tmp_path):
    assert _parse_hf("hf:openai/gsm8k:main:test") == ("openai/gsm8k", "main", "test")
    assert _parse_hf("hf:HuggingFaceH4/MATH-500:test") == ("HuggingFaceH4/MATH-500", None, "test")
    assert _parse_hf(f"hf:{tmp_path}") == (str(tmp_path), None, None)
    assert _parse_hf(f"hf:{tmp_path}:train") == (str(tmp_path), None, "train")
    for bad in ("hf:", "hf:a:b:c:d", "hf:a::b"):
        with pytest.raises(InputError, match="expected hf:ORG/NAME"):
            _parse_hf(bad)


@pytest.fixture
def hf_offline(monkeypatch, tmp_path):
    """The datasets library with the Hub switched off and its cache in tmp: nothing is downloaded."""
    datasets = pytest.importorskip("datasets")  # the `hf` extra; installed by scripts/setup.sh
    import huggingface_hub.constants as hub

    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    if hasattr(datasets.config, "HF_HUB_OFFLINE"):
        monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    return datasets


def test_hf_dataset_saved_to_disk(tmp_path, hf_offline):
    datasets = hf_offline
    gsm = load_gsm8k(limit=6)
    rows = [{"question": p.question, "answer": p.meta["solution"]} for p in gsm]
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:2]), "test": datasets.Dataset.from_list(rows[2:])})
    dd.save_to_disk(str(tmp_path / "dd"))
    loaded = read_problems(f"hf:{tmp_path / 'dd'}:test")
    assert [p.gold for p in loaded.problems] == [p.gold for p in gsm[2:]] and loaded.errors == []
    with pytest.raises(InputError, match="no split; name one of: train, test"):
        read_problems(f"hf:{tmp_path / 'dd'}")
    with pytest.raises(InputError, match="no split 'valid'; name one of: train, test"):
        read_problems(f"hf:{tmp_path / 'dd'}:valid")
    # a single Dataset, with other column names
    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "one"))
    loaded = read_problems(f"hf:{tmp_path / 'one'}", COLS)
    assert [(p.id, p.gold) for p in loaded.problems] == [("p1", "4"), ("p2", "5/2"), ("p3", None)]
    with pytest.raises(InputError, match="no column 'x'"):
        read_problems(f"hf:{tmp_path / 'one'}", Columns(question="x"))


def test_hf_parquet_folder_and_unknown_hub_name(tmp_path, hf_offline):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "repo" / "data"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(ROWS), folder / "test-00000-of-00001.parquet")
    loaded = read_problems(f"hf:{tmp_path / 'repo'}:test", COLS, hf_cache_dir=str(tmp_path / "hf-cache"))
    assert [(p.id, p.gold) for p in loaded.problems] == [("p1", "4"), ("p2", "5/2"), ("p3", None)]
    # offline: an unknown Hub name is a one-line error, and nothing is requested from the Hub
    with pytest.raises(InputError, match="hf:no-such-org/no-such-set:test: cannot load the dataset"):
        read_problems("hf:no-such-org/no-such-set:test", hf_cache_dir=str(tmp_path / "hf-cache"))


def test_problem_stream_gives_what_read_problems_gives_and_reads_again(tmp_path):
    """The lazy reader: same problems, ids (repeats as id~2), errors and places as read_problems, per pass."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from lemmaflow.tools.datasets.readers import ProblemStream

    rows = [{"id": "a", "question": "1+1?", "answer": 2}, {"id": "a", "question": "2+2?", "answer": 4},
            {"question": ""}, {"question": "3+3?", "answer": "6"}]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n{broken\n")
    csv_path = tmp_path / "p.csv"
    csv_path.write_text("question,answer\n1+1?,2\n2+2?,4\n\"a, b\",1,2\n3+3?,6\n")
    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.table({"question": ["1+1?", "", "3+3?"] * 700, "answer": ["2", "x", "6"] * 700}), parquet,
                   row_group_size=300)
    for path in (jsonl, csv_path, parquet):
        want = read_problems(str(path))
        met = []
        stream = ProblemStream(str(path), on_error=lambda place, err: met.append(place))
        for _ in range(2):  # a second pass reads the file again: same problems, errors not reported twice
            got = list(stream)
            assert [p.model_dump() for p in got] == [p.model_dump() for p in want.problems], path
        assert stream.errors == want.errors and met == [place for place, _ in want.errors], path
        assert stream.total_hint() >= len(want.problems)
        assert [p.id for p in ProblemStream(str(path), limit=2)] == [p.id for p in want.problems[:2]]
    assert [p.id for p in ProblemStream(str(jsonl))][:2] == ["a", "a~2"]
    with pytest.raises(InputError, match="no 'question' or 'problem' column"):
        bad = tmp_path / "bad.csv"
        bad.write_text("prompt\nx\n")
        ProblemStream(str(bad))  # the header is checked when the stream is made, before any run
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(json.dumps({"question": "1+1?"}).encode() + b"\n" + b'{"question": "caf\xe9"}\n')
    with pytest.raises(InputError, match=r"latin.jsonl:2: not UTF-8"):
        list(ProblemStream(str(latin)))
