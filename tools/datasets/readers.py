"""Problems from a user's file or a Hugging Face dataset: JSONL, JSON, CSV, Parquet, ``hf:``.

:func:`read_problems` picks the reader by the source's form:

- ``hf:ORG/NAME[:CONFIG]:SPLIT``: a Hugging Face dataset (``datasets`` library,
  the ``hf`` extra), or ``hf:PATH[:SPLIT]`` for a local folder saved with
  ``save_to_disk`` or a local folder/file of data files ``datasets`` can load;
- ``*.parquet``: a Parquet file (pyarrow, the ``hf`` extra);
- ``*.csv``: a CSV file with a header line;
- ``*.json``: one JSON document, an array of rows (or an object holding one);
- anything else: JSONL, one row per line.

Rows are read as in :func:`~lemmaflow.tools.datasets.problems.parse_row` (GSM8K,
MATH, ``{id, question, answer}``, FOLIO, ProofWriter). A :class:`Columns`
mapping renames columns first (``question_field="problem_text"``). A row that
cannot be read is skipped and reported with its place (line, or row number for
JSON, Parquet and Hugging Face sources); a source that cannot be read at all
raises :class:`InputError` whose one-line message names the source and the place.

Example::

    >>> import json, tempfile, pathlib
    >>> from lemmaflow.tools.datasets.readers import Columns, read_problems
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "p.json"
    >>> _ = path.write_text(json.dumps([{"q": "2+2?", "a": 4}]))
    >>> loaded = read_problems(str(path), Columns(question="q", answer="a"))
    >>> [(p.question, p.gold) for p in loaded.problems], loaded.errors
    ([('2+2?', '4')], [])
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterator, Literal, NamedTuple

from .problems import JsonlLoad, jsonl_rows, problems_from_rows

__all__ = ["Columns", "InputError", "input_format", "place_unit", "read_problems"]

Format = Literal["jsonl", "json", "csv", "parquet", "hf"]
_QUESTION_KEYS = ("question", "problem", "premises", "context")


class InputError(ValueError):
    """A problems source that cannot be read at all; the message names it and the place."""


class Columns(NamedTuple):
    """Which source columns hold the question, the gold answer and the id (``None``: the usual names)."""

    question: str | None = None
    answer: str | None = None
    id: str | None = None

    def transform(self, row: Any) -> Any:
        if not isinstance(row, dict) or self == Columns():
            return row
        out = dict(row)
        for target, field in (("question", self.question), ("answer", self.answer), ("id", self.id)):
            if field is None:
                continue
            if field not in row:
                raise ValueError(f"no field {field!r} (fields: {', '.join(map(str, row))})")
            out.pop(field)
            out[target] = row[field]
        return out


def input_format(source: str) -> Format:
    if source.startswith("hf:"):
        return "hf"
    suffix = Path(source).suffix.lower()
    return {".parquet": "parquet", ".csv": "csv", ".json": "json"}.get(suffix, "jsonl")  # type: ignore[return-value]


def place_unit(source: str) -> str:
    """How :func:`read_problems` numbers places in this source: ``line`` or ``row``."""
    return "line" if input_format(source) in ("jsonl", "csv") else "row"


def read_problems(source: str, columns: Columns = Columns(), *, hf_cache_dir: str | None = None) -> JsonlLoad:
    """Problems of a file or ``hf:`` dataset, with bad rows reported as ``(place, reason)``.

    Raises :class:`InputError` (a ``ValueError``) for a source that cannot be read
    at all, and ``OSError`` (``FileNotFoundError``...) for a file that cannot be opened.
    """
    fmt = input_format(source)
    if fmt == "hf":
        rows, names = _hf_rows(source, hf_cache_dir)
        _check_columns(source, names, columns)
        return problems_from_rows(rows, transform=columns.transform)
    path = Path(source)
    if not path.is_file():
        if path.is_dir():
            raise InputError(f"{source}: is a folder (a dataset saved with save_to_disk is read as hf:{source})")
        raise FileNotFoundError(f"{source}: no such file")
    try:
        if fmt == "parquet":
            rows, names = _parquet_rows(path)
            _check_columns(source, names, columns)
            return problems_from_rows(rows, transform=columns.transform)
        if fmt == "csv":
            return _read_csv(path, columns)
        if fmt == "json":
            return problems_from_rows(_json_rows(path), transform=columns.transform)
        return problems_from_rows(jsonl_rows(path), transform=columns.transform)
    except UnicodeDecodeError as e:
        raise InputError(f"{source}:{_line_of_byte(path, e.start)}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _line_of_byte(path: Path, offset: int) -> int:
    with open(path, "rb") as f:
        return f.read(offset).count(b"\n") + 1


def _check_columns(source: str, names: list[str], columns: Columns) -> None:
    """A mapped column that the table does not have at all is an error for the whole source."""
    missing = [c for c in columns if c is not None and c not in names]
    if missing:
        raise InputError(f"{source}: no column {missing[0]!r} (columns: {', '.join(names)})")
    if columns.question is None and not any(k in names for k in _QUESTION_KEYS):
        raise InputError(f"{source}: no 'question' or 'problem' column (columns: {', '.join(names)}); "
                         "name the question column with --question-field")


def _json_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """Items of one JSON document: an array of rows, or an object holding exactly one array."""
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        first = next((ln for ln in text.splitlines() if ln.strip()), "")
        try:  # JSONL saved as .json: read it line by line, so good lines survive
            if isinstance(json.loads(first), dict) and e.lineno > 1:
                yield from jsonl_rows(path)
                return
        except json.JSONDecodeError:
            pass
        raise InputError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
    if isinstance(data, dict):
        arrays = [k for k, v in data.items() if isinstance(v, list)]
        if len(arrays) == 1:
            data = data[arrays[0]]
        elif any(k in data for k in _QUESTION_KEYS):
            data = [data]  # a single problem
        else:
            raise InputError(f"{path}: expected a JSON array of rows, or an object holding one "
                             f"(top-level keys: {', '.join(list(data)[:8])})")
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON array of rows, got {type(data).__name__}")
    yield from enumerate(data, start=1)


def _read_csv(path: Path, columns: Columns) -> JsonlLoad:
    with open(path, encoding="utf-8-sig", newline="") as f:  # -sig: a spreadsheet's byte-order mark
        reader = csv.DictReader(f)
        try:
            names = reader.fieldnames
        except csv.Error as e:
            raise InputError(f"{path}:1: bad CSV header: {e}") from None
        if not names:
            raise InputError(f"{path}:1: empty CSV file (no header line)")
        _check_columns(str(path), list(names), columns)

        def rows() -> Iterator[tuple[int, Any]]:
            while True:
                start = reader.line_num + 1
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    raise InputError(f"{path}:{reader.line_num}: bad CSV: {e}") from None
                if None in row:  # more cells than header names
                    yield start, ValueError(f"{len(row[None]) + len(names)} cells, the header has {len(names)}")
                    continue
                # CSV has no null: an empty cell is "no value" (no gold answer, no id)
                yield start, {k: (None if v == "" else v) for k, v in row.items()}

        return problems_from_rows(rows(), transform=columns.transform)


def _parquet_rows(path: Path) -> tuple[Iterator[tuple[int, Any]], list[str]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{path}: reading Parquet needs pyarrow: pip install 'lemmaflow[hf]' (or pip install pyarrow)") from None
    import pyarrow as pa

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{path}: not a readable Parquet file: {str(e).splitlines()[0]}") from None
    return enumerate(table.to_pylist(), start=1), list(table.column_names)


def _parse_hf(spec: str) -> tuple[str, str | None, str | None]:
    """``hf:ORG/NAME[:CONFIG]:SPLIT`` or ``hf:PATH[:SPLIT]`` -> (name or path, config, split)."""
    rest = spec[len("hf:"):]
    if not rest:
        raise InputError(f"{spec!r}: expected hf:ORG/NAME[:CONFIG]:SPLIT or hf:PATH[:SPLIT]")
    if Path(rest).exists():
        return rest, None, None
    head, _, last = rest.rpartition(":")
    if head and Path(head).exists():
        return head, None, last or None
    parts = rest.split(":")
    if len(parts) > 3 or not all(parts):
        raise InputError(f"{spec!r}: expected hf:ORG/NAME[:CONFIG]:SPLIT or hf:PATH[:SPLIT]")
    if len(parts) == 1:
        return parts[0], None, None
    if len(parts) == 2:
        return parts[0], None, parts[1]
    return parts[0], parts[1], parts[2]


def _hf_rows(spec: str, cache_dir: str | None) -> tuple[Iterator[tuple[int, Any]], list[str]]:
    name, config, split = _parse_hf(spec)
    try:
        import datasets
    except ImportError:
        raise InputError(f"{spec}: Hugging Face datasets need the datasets library: pip install 'lemmaflow[hf]'") from None
    local = Path(name)
    try:
        if local.is_dir() and ((local / "dataset_dict.json").exists() or (local / "state.json").exists()):
            ds = datasets.load_from_disk(str(local))
        else:
            ds = datasets.load_dataset(name, config, split=split, cache_dir=cache_dir)
    except Exception as e:  # noqa: BLE001 - datasets raises many kinds (not found, offline, bad config/split)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise InputError(f"{spec}: cannot load the dataset: {type(e).__name__}: {msg}") from None
    if isinstance(ds, datasets.DatasetDict):
        if split is None and len(ds) == 1:
            split = next(iter(ds))
        if split not in ds:
            hint = "no split" if split is None else f"no split {split!r}"
            raise InputError(f"{spec}: {hint}; name one of: {', '.join(ds)} (hf:{name}:SPLIT)")
        ds = ds[split]
    if not isinstance(ds, datasets.Dataset):  # an IterableDataset from a streaming config
        raise InputError(f"{spec}: not a map-style dataset ({type(ds).__name__})")
    return enumerate(ds, start=1), list(ds.column_names)
