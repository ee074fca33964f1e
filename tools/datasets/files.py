"""Where a registered dataset's files are: verified local paths, fetched into the cache on demand.

File access only, no parsing: the loaders (:mod:`.loaders`) and the miniF2F readers
(``tools.provers.minif2f*``) both build on it, so imports run one way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

from .registry import get_dataset
from .store import DataSource

__all__ = ["DataDir", "data_root", "dataset_files", "dataset_path", "fetch_dataset"]

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
