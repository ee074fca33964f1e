r"""Benchmark datasets by name (pinned, verified, cached), problem files of any common format, grading.

- :mod:`.registry`: ``gsm8k``, ``math500``, ``minif2f-coq``, ``minif2f-lean4``,
  ``folio``, ``proofwriter``, their splits, upstream commits and sha256.
- :mod:`.store`: where files come from: an offline copy (``data_dir`` /
  ``$LEMMAFLOW_DATA``) or the user cache (``~/.cache/lemmaflow/data``), filled by
  verified, atomic downloads.
- :mod:`.loaders`: :func:`load_dataset` (``"gsm8k:50"``), :func:`load_gsm8k`, ...
- :mod:`.problems`: :class:`Problem`, row parsing, JSONL files, :func:`grade`.
- :mod:`.readers`: ``--input`` sources: JSONL, JSON, CSV, Parquet, ``hf:ORG/NAME:SPLIT``.

Example::

    >>> from lemmaflow.tools.datasets import load_gsm8k, grade
    >>> from lemmaflow.tools.answers import AnswerChecker
    >>> problems = load_gsm8k(limit=2)     # downloaded and verified on first use
    >>> problems[0].id, problems[0].gold
    ('gsm8k-0', '18')
    >>> with AnswerChecker() as checker:
    ...     grade("18.0", problems[0].gold, checker)
    True
"""

from __future__ import annotations

from .loaders import (
    data_root,
    dataset_files,
    dataset_path,
    fetch_dataset,
    load_dataset,
    load_folio,
    load_gsm8k,
    load_math500,
    load_proofwriter,
)
from .problems import LOGIC_LABELS, JsonlLoad, Problem, grade, gsm8k_gold, load_problems_jsonl
from .readers import Columns, InputError, read_problems
from .registry import DATASETS, Dataset, DataFile, UnknownDataset, get_dataset, parse_dataset_spec
from .store import ChecksumError, DataError, DataNotFound, DataSource, DownloadError

__all__ = [
    "Problem",
    "JsonlLoad",
    "LOGIC_LABELS",
    "gsm8k_gold",
    "grade",
    "load_problems_jsonl",
    "read_problems",
    "Columns",
    "InputError",
    "DATASETS",
    "Dataset",
    "DataFile",
    "UnknownDataset",
    "get_dataset",
    "parse_dataset_spec",
    "DataSource",
    "DataError",
    "DataNotFound",
    "ChecksumError",
    "DownloadError",
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
