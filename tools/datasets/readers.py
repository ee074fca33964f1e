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

import contextlib
import csv
import itertools
import json
from pathlib import Path
from typing import Any, Iterator, Literal, NamedTuple

from .problems import JsonlLoad, Problem, iter_problems, jsonl_rows, problems_from_rows

__all__ = ["Columns", "InputError", "ProblemStream", "input_format", "place_unit", "read_problems", "size_hint"]

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


def _show_columns(names: list[str], most: int = 20) -> str:
    """Column names for an error line: plain names as they are, odd ones (newlines, commas,
    edge spaces) quoted, so the message stays one readable line whatever the header holds."""
    def show(n: str) -> str:
        plain = n.isprintable() and n == n.strip() and "," not in n and n != ""
        return n if plain else repr(n)

    shown = ", ".join(show(str(n))[:80] for n in names[:most])
    return shown + (f", … ({len(names)} in all)" if len(names) > most else "")


def _check_columns(source: str, names: list[str], columns: Columns) -> None:
    """A mapped column that the table does not have at all is an error for the whole source."""
    missing = [c for c in columns if c is not None and c not in names]
    if missing:
        raise InputError(f"{source}: no column {missing[0]!r} (columns: {_show_columns(names)})")
    if columns.question is None and not any(k in names for k in _QUESTION_KEYS):
        raise InputError(f"{source}: no 'question' or 'problem' column (columns: {_show_columns(names)}); "
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
        return problems_from_rows(_csv_rows(f, path, columns), transform=columns.transform)


def _csv_rows(f, path: Path, columns: Columns) -> Iterator[tuple[int, Any]]:
    """``(line, row)`` of an open CSV file; the header is read (and checked) before the first row."""
    reader = csv.DictReader(f)
    try:
        names = reader.fieldnames
    except csv.Error as e:
        raise InputError(f"{path}:1: bad CSV header: {e}") from None
    if not names:
        raise InputError(f"{path}:1: empty CSV file (no header line)")
    _check_columns(str(path), list(names), columns)
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


def _parquet_file(path: Path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{path}: reading Parquet needs pyarrow: pip install 'lemmaflow[hf]' (or pip install pyarrow)") from None
    import pyarrow as pa

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{path}: not a readable Parquet file: {str(e).splitlines()[0]}") from None


def _parquet_rows(path: Path, batch_size: int = 1024) -> tuple[Iterator[tuple[int, Any]], list[str]]:
    """Rows of a Parquet file, read one record batch at a time (a large file is never whole in memory)."""
    import pyarrow as pa

    pf = _parquet_file(path)
    names = list(pf.schema_arrow.names)

    def rows() -> Iterator[tuple[int, Any]]:
        place = 0
        try:
            for batch in pf.iter_batches(batch_size=batch_size):
                for row in batch.to_pylist():
                    place += 1
                    yield place, row
        except (pa.ArrowException, OSError) as e:
            raise InputError(f"{path}: row {place + 1}: unreadable Parquet data: {str(e).splitlines()[0]}") from None

    return rows(), names


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


def size_hint(problems) -> int | None:
    """How many problems, for a progress bar: ``len()`` of a list, a :class:`ProblemStream`'s cheap
    :meth:`~ProblemStream.total_hint` (an upper bound), else None (a generator)."""
    if hasattr(problems, "__len__"):
        return len(problems)
    hint = getattr(problems, "total_hint", None)
    return hint() if hint is not None else None


class ProblemStream:
    """The problems of a source, read lazily: each iteration reads the source again from its start.

    What :func:`read_problems` returns, without holding it: JSONL and CSV are read line by line and
    Parquet one record batch at a time, so a run over a million problems holds a few of them at once
    (``.json`` documents and ``hf:`` datasets are read whole once, then iterated: their libraries
    load them whole anyway). Problems are the same as :func:`read_problems` gives, in the same order,
    with the same ids (a repeated id becomes ``id~2``, ``id~3``...; the check holds 8 bytes per id).
    ``limit``: the first N problems only (the source is read no further).

    Bad rows are appended to :attr:`errors` as ``(place, reason)`` while the source is read, and
    passed to ``on_error(place, reason)`` the first time they are met (a second pass reports
    nothing new). A source that cannot be opened at all raises :class:`InputError` / ``OSError``
    here, before anything is read; one that breaks mid-way (bytes that are not UTF-8, a CSV quote
    that never closes) raises :class:`InputError` from the iteration, naming the place.

    Example::

        >>> import json, tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "p.jsonl"
        >>> _ = path.write_text(json.dumps({"id": "a", "question": "1+1?", "answer": 2}) + "\\nnot json\\n")
        >>> stream = ProblemStream(str(path))
        >>> [(p.id, p.gold) for p in stream], stream.errors, stream.total_hint()
        ([('a', '2')], [(2, 'invalid JSON: Expecting value (column 1)')], 2)
    """

    def __init__(self, source: str, columns: Columns = Columns(), *, limit: int | None = None,
                 on_error=None, hf_cache_dir: str | None = None):
        self.source, self.columns, self.limit, self.on_error = source, columns, limit or None, on_error
        self.format = input_format(source)
        self.errors: list[tuple[int, str]] = []
        self._reported = 0  # places up to here were passed to on_error (a pass re-reads the same order)
        self._whole: list[Problem] | None = None
        if self.format in ("json", "hf"):  # read whole once: the json module and datasets load them whole anyway
            loaded = read_problems(source, columns, hf_cache_dir=hf_cache_dir)
            self._whole = loaded.problems[: self.limit] if self.limit else loaded.problems
            self._whole_errors = loaded.errors
            return
        path = Path(source)
        if not path.is_file():
            if path.is_dir():
                raise InputError(f"{source}: is a folder (a dataset saved with save_to_disk is read as hf:{source})")
            raise FileNotFoundError(f"{source}: no such file")
        self.path = path
        with self._rows() as rows:  # the header, the columns, the file's format: errors now, not mid-run
            next(rows, None)

    @property
    def materialised(self) -> bool:
        """True for sources held whole in memory (``.json``, ``hf:``)."""
        return self._whole is not None

    def total_hint(self) -> int | None:
        """How many problems there are, counted cheaply (rows, not parsed): an upper bound for JSONL and
        CSV (bad rows count), exact for Parquet row counts and whole sources; cut to ``limit``."""
        if self._whole is not None:
            n: int | None = len(self._whole)
        elif self.format == "parquet":
            n = _parquet_file(self.path).metadata.num_rows
        else:
            with open(self.path, "rb") as f:
                n = sum(1 for line in f if line.strip())
            if self.format == "csv":
                n = max(0, n - 1)  # the header (a quoted cell spanning lines over-counts: a hint only)
        return min(n, self.limit) if self.limit and n is not None else n

    def __iter__(self) -> Iterator[Problem]:
        if self._whole is not None:
            for place, err in self._whole_errors:
                self._error(place, err)
            yield from self._whole
            return
        with self._rows() as rows:
            yield from self._parse(rows)

    def _error(self, place: int, reason: str) -> None:
        if place <= self._reported:
            return  # met in an earlier pass
        self._reported = place
        self.errors.append((place, reason))
        if self.on_error is not None:
            self.on_error(place, reason)

    def _parse(self, rows: Iterator[tuple[int, Any]]) -> Iterator[Problem]:
        problems = iter_problems(rows, transform=self.columns.transform, on_error=self._error)
        yield from itertools.islice(problems, self.limit)  # with a limit, the source is read no further

    @contextlib.contextmanager
    def _rows(self) -> Iterator[Iterator[tuple[int, Any]]]:
        try:
            if self.format == "parquet":
                it, names = _parquet_rows(self.path)
                _check_columns(self.source, names, self.columns)
                yield it
            elif self.format == "csv":
                with open(self.path, encoding="utf-8-sig", newline="") as f:
                    yield _csv_rows(f, self.path, self.columns)
            else:
                gen = jsonl_rows(self.path)
                try:
                    yield gen
                finally:
                    gen.close()
        except UnicodeDecodeError as e:
            raise InputError(f"{self.source}:{_line_of_byte(self.path, e.start)}: not UTF-8 text "
                             f"({e.reason} at byte {e.start})") from None
