"""Load a registered dataset by name: fetch (or find) its verified files, then parse them.

``data_dir`` everywhere is the offline copy (``--data-dir``); ``None`` means
``$LEMMAFLOW_DATA`` or the user cache (see :mod:`lemmaflow.tools.datasets.store`).
A :class:`~lemmaflow.tools.datasets.store.DataSource` may be passed instead.

Example::

    >>> from lemmaflow.tools.datasets import load_dataset, load_gsm8k
    >>> load_dataset("gsm8k:2") == load_gsm8k(limit=2)
    True
    >>> p = load_dataset("folio", limit=1)[0]
    >>> p.id, p.gold, p.question.splitlines()[0]
    ('folio-0', 'Unknown', 'Premises:')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

from .problems import Problem, load_problems_jsonl
from .registry import Dataset, get_dataset, parse_dataset_spec
from .store import DataSource

__all__ = [
    "DataDir",
    "data_root",
    "dataset_files",
    "dataset_path",
    "fetch_dataset",
    "load_dataset",
    "load_gsm8k",
    "load_math500",
    "load_folio",
    "load_proofwriter",
]

DataDir = Union[str, "os.PathLike[str]", DataSource, None]


def _source(data_dir: DataDir) -> DataSource:
    return data_dir if isinstance(data_dir, DataSource) else DataSource.resolve(data_dir)


def data_root(data_dir: DataDir = None) -> Path:
    """The folder dataset files are read from: the offline copy, or the cache (may not exist yet)."""
    return _source(data_dir).root


def dataset_files(name: str, split: str | None = None, data_dir: DataDir = None, **kw: Any) -> list[Path]:
    """Verified local paths of the files of ``name`` (one split, or every file), downloading into the cache."""
    ds = get_dataset(name)
    files = ds.split_files(split) if split else list(ds.files)
    return _source(data_dir).paths(files, **kw)


def dataset_path(name: str, split: str | None = None, data_dir: DataDir = None) -> Path:
    """The dataset's folder (``<root>/gsm8k``) once its files are present and verified.

    ``split``: only that split's files. Otherwise every file in the cache (fetched if
    missing), and every split's files in an offline copy (which may lack the license).
    """
    src = _source(data_dir)
    ds = get_dataset(name)
    if split or not src.offline:
        dataset_files(name, split, src)
    else:
        src.paths([f for f in ds.files if any(f in ds.split_files(s) for s in ds.splits)])
    return src.root / ds.folder


def fetch_dataset(name: str, data_dir: DataDir = None, *, force: bool = False, on_file=None) -> Path:
    """Download (or verify) every file of ``name``; returns its folder. ``force`` downloads again."""
    src = _source(data_dir)
    src.paths(list(get_dataset(name).files), force=force, on_file=on_file)
    return src.root / get_dataset(name).folder


def load_dataset(spec: str, *, split: str | None = None, limit: int | None = None, data_dir: DataDir = None) -> list:
    """The problems of ``NAME[:SPLIT][:LIMIT]``: :class:`Problem` rows for question/answer datasets,
    ``CoqProblem`` for ``minif2f-coq`` and ``LeanProblem`` for ``minif2f-lean4``.

    ``split``/``limit`` override what the spec says (the smaller limit wins).
    """
    ref = parse_dataset_spec(spec)
    ds = get_dataset(ref.name)
    split = split or ref.split
    limits = [n for n in (limit, ref.limit) if n is not None]
    n = min(limits) if limits else None
    if ds.kind == "coq":
        from ..provers.minif2f import load_minif2f_coq

        return load_minif2f_coq(split, data_dir, limit=n)  # type: ignore[arg-type]
    if ds.kind == "lean4":
        from ..provers.minif2f_lean import load_minif2f_lean

        return load_minif2f_lean(split, data_dir, limit=n)  # type: ignore[arg-type]
    return _load_problems(ds, split, data_dir, n)


def _load_problems(ds: Dataset, split: str, data_dir: DataDir, limit: int | None) -> list[Problem]:
    files = ds.split_files(split)  # UnknownDataset for a bad split
    sp = ds.splits[split]
    target = f"{ds.folder}/{sp.files[0]}"
    path = next(p for p, f in zip(_source(data_dir).paths(files), files) if f.path == target)
    problems, errors = load_problems_jsonl(path, source=ds.name)
    if errors:  # cannot happen with a verified file; a parser change that breaks one must not go unnoticed
        line_no, msg = errors[0]
        raise ValueError(f"{path}: {len(errors)} bad line(s), first at line {line_no}: {msg}")
    take = [n for n in (sp.take, limit) if n is not None]
    return problems[: min(take)] if take else problems


def load_gsm8k(split: str = "test", data_dir: DataDir = None, limit: int | None = None) -> list[Problem]:
    """GSM8K problems (``split``: ``"test"`` = 1319 items, ``"test_200"`` = the first 200); ids ``gsm8k-<i>``."""
    return load_dataset("gsm8k", split=split, limit=limit, data_dir=data_dir)


def load_math500(data_dir: DataDir = None, limit: int | None = None) -> list[Problem]:
    """The 500 MATH-500 problems; ``meta`` has ``solution``, ``subject`` and ``level``."""
    return load_dataset("math500", limit=limit, data_dir=data_dir)


def load_folio(data_dir: DataDir = None, limit: int | None = None) -> list[Problem]:
    """The 204 FOLIO validation items (ids ``folio-<line>``); gold FOL in ``meta``."""
    return load_dataset("folio", limit=limit, data_dir=data_dir)


def load_proofwriter(data_dir: DataDir = None, limit: int | None = None) -> list[Problem]:
    """The 600 ProofWriter depth-5 items of Logic-LM's ``dev.json`` (A/B/C -> True/False/Unknown)."""
    return load_dataset("proofwriter", limit=limit, data_dir=data_dir)
