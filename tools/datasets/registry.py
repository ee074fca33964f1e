"""The benchmark datasets lemmaflow knows by name, pinned to upstream files and their sha256.

Every dataset is a folder of files copied byte for byte from one upstream
repository at one commit. The registry names, for each dataset, the repository,
the commit, the license, how local paths map to upstream paths, and its splits;
``manifest.json`` beside this module holds every file's sha256 and size. A
download URL is the file's raw URL at the pinned commit (or the same relative
path under a mirror: :mod:`lemmaflow.tools.datasets.store`).

A dataset is named on the command line as ``NAME[:SPLIT][:LIMIT]``
(``gsm8k``, ``gsm8k:50``, ``gsm8k:test_200:10``, ``minif2f-coq:valid``).

Example::

    >>> from lemmaflow.tools.datasets.registry import get_dataset, parse_dataset_spec
    >>> parse_dataset_spec("gsm8k:50")
    DatasetRef(name='gsm8k', split='test', limit=50)
    >>> ds = get_dataset("minif2f-coq")
    >>> ds.splits["valid"].items, len(ds.split_files("valid")), len(ds.files)   # + LICENSE, README
    (244, 244, 490)
    >>> ds.files[0].url().startswith("https://raw.githubusercontent.com/LLM4Rocq/miniF2F-rocq/b60affae")
    True
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Literal, NamedTuple
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DataFile",
    "Dataset",
    "DatasetRef",
    "Split",
    "UnknownDataset",
    "DATASETS",
    "dataset_names",
    "get_dataset",
    "parse_dataset_spec",
]

Kind = Literal["problems", "coq", "lean4"]


class UnknownDataset(ValueError):
    """A dataset name, split or ``NAME[:SPLIT][:LIMIT]`` spec the registry does not know."""


class DataFile(BaseModel):
    """One pinned file: where it goes under the data root, where it comes from, its hash."""

    model_config = ConfigDict(frozen=True)

    path: str  # relative to the data root, with '/' separators: "gsm8k/test.jsonl"
    repo: str  # "openai/grade-school-math"
    commit: str
    upstream: str  # path inside the repository at ``commit``
    sha256: str
    size: int

    def url(self, mirror: str | None = None) -> str:
        """Raw URL at the pinned commit, or ``<mirror>/<path>`` (a mirror has the data root's layout)."""
        if mirror:
            return f"{mirror.rstrip('/')}/{quote(self.path)}"
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{quote(self.upstream)}"


class Split(BaseModel):
    """A split: the files (or folders, ending in '/') it reads, relative to the dataset folder."""

    model_config = ConfigDict(frozen=True)

    files: tuple[str, ...]
    items: int  # how many problems it has (shown by ``lemmaflow data ls``; checked by the tests)
    take: int | None = None  # only the first N problems (gsm8k's test_200)


class Dataset(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    title: str
    kind: Kind  # problems: question/gold rows (solve, bench, compose); coq/lean4: theorems (prove)
    folder: str  # under the data root
    repo: str
    commit: str
    license: str
    # local path (relative to the folder) -> upstream path; a key ending in '/' maps a folder
    upstream: dict[str, str]
    splits: dict[str, Split]
    default_split: str
    files: tuple[DataFile, ...] = Field(default=())

    def split_files(self, split: str | None = None) -> list[DataFile]:
        """The files a split reads (``fetch`` also gets the others: license, upstream README)."""
        split = split or self.default_split
        if split not in self.splits:
            raise UnknownDataset(f"dataset {self.name!r} has no split {split!r} (splits: {', '.join(self.splits)})")
        wanted = self.splits[split].files
        return [f for f in self.files if _matches(self._rel(f), wanted)]

    def _rel(self, f: DataFile) -> str:
        return f.path[len(self.folder) + 1:]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def _matches(rel: str, patterns) -> bool:
    return any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in patterns)


class DatasetRef(NamedTuple):
    name: str
    split: str
    limit: int | None


_RAW: tuple[dict, ...] = (
    dict(name="gsm8k", title="GSM8K: grade-school math word problems", kind="problems", folder="gsm8k",
         repo="openai/grade-school-math", commit="3101c7d5072418e28b9008a6636bde82a006892c", license="MIT",
         upstream={"test.jsonl": "grade_school_math/data/test.jsonl", "LICENSE": "LICENSE"},
         splits={"test": Split(files=("test.jsonl",), items=1319),
                 # the first 200 test problems: a quick run, same ids as in `test`
                 "test_200": Split(files=("test.jsonl",), items=200, take=200)},
         default_split="test"),
    dict(name="math500", title="MATH-500: competition math (LaTeX answers)", kind="problems", folder="math500",
         repo="jincan333/MAS-TTS", commit="ae8f961818d47860cfbde256b72cbb5c326e6b85", license="Apache-2.0 (MATH: MIT)",
         upstream={"test.jsonl": "data/math500/test.jsonl", "LICENSE": "LICENSE"},
         splits={"test": Split(files=("test.jsonl",), items=500)}, default_split="test"),
    dict(name="minif2f-coq", title="miniF2F in Coq/Rocq: one theorem per .v file", kind="coq", folder="minif2f_coq",
         repo="LLM4Rocq/miniF2F-rocq", commit="b60affae5d9b81eb097424e3143c40165ccbe97b", license="MIT",
         upstream={"valid/": "valid/", "test/": "test/", "SOURCE_README.md": "README.md", "LICENSE": "LICENSE"},
         splits={"valid": Split(files=("valid/",), items=244), "test": Split(files=("test/",), items=244),
                 "all": Split(files=("valid/", "test/"), items=488)},
         default_split="valid"),
    dict(name="minif2f-lean4", title="miniF2F in Lean 4 (DeepSeek-Prover-V1.5's copy)", kind="lean4",
         folder="minif2f_lean4", repo="deepseek-ai/DeepSeek-Prover-V1.5",
         commit="2c4ba9119eef74d0d611f494261b2c5bae98c69a", license="MIT",
         upstream={"minif2f.jsonl": "datasets/minif2f.jsonl", "LICENSE": "LICENSE-CODE"},
         # one file holds both splits (its rows' "split" field)
         splits={"valid": Split(files=("minif2f.jsonl",), items=244), "test": Split(files=("minif2f.jsonl",), items=244),
                 "all": Split(files=("minif2f.jsonl",), items=488)},
         default_split="valid"),
    dict(name="folio", title="FOLIO v0.0 validation: first-order logic (True/False/Unknown)", kind="problems",
         folder="folio", repo="Yale-LILY/FOLIO", commit="5d7bb84c7edab3fb358e057d2807f19cf5cf5e2d",
         license="CC-BY-SA-4.0",
         upstream={"folio-validation.jsonl": "data/v0.0/folio-validation.jsonl", "LICENSE": "LICENSE"},
         splits={"validation": Split(files=("folio-validation.jsonl",), items=204)}, default_split="validation"),
    dict(name="proofwriter", title="ProofWriter depth-5 (Logic-LM's 600-item dev subset)", kind="problems",
         folder="proofwriter", repo="teacherpeterpan/Logic-LLM", commit="d29f1e5e7203e8826cb9c41ba3003e43dc0b9d34",
         license="MIT", upstream={"dev.json": "data/ProofWriter/dev.json", "LICENSE": "LICENSE"},
         splits={"dev": Split(files=("dev.json",), items=600)}, default_split="dev"),
)


def _upstream_path(upstream: dict[str, str], rel: str) -> str:
    if rel in upstream:
        return upstream[rel]
    for local, remote in upstream.items():
        if local.endswith("/") and rel.startswith(local):
            return remote + rel[len(local):]
    raise KeyError(rel)


def _build() -> dict[str, Dataset]:
    manifest = json.loads(resources.files(__package__).joinpath("manifest.json").read_text(encoding="utf-8"))
    out: dict[str, Dataset] = {}
    for raw in _RAW:
        folder = raw["folder"]
        files = tuple(
            DataFile(path=path, repo=raw["repo"], commit=raw["commit"],
                     upstream=_upstream_path(raw["upstream"], path[len(folder) + 1:]),
                     sha256=entry["sha256"], size=entry["size"])
            for path, entry in sorted(manifest["files"].items()) if path.startswith(folder + "/"))
        out[raw["name"]] = Dataset(**raw, files=files)
    return out


DATASETS: dict[str, Dataset] = _build()


def dataset_names() -> list[str]:
    return list(DATASETS)


def get_dataset(name: str) -> Dataset:
    """The registry entry for ``name``; :class:`UnknownDataset` naming the known ones otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownDataset(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})") from None


def parse_dataset_spec(spec: str) -> DatasetRef:
    """``NAME[:SPLIT][:LIMIT]`` -> (name, split, limit); a lone number after the name is a limit.

    ``gsm8k:50`` is the first 50 test problems, ``minif2f-coq:valid`` the valid split,
    ``gsm8k:test_200:10`` the first 10 of ``test_200``.
    """
    name, *rest = spec.strip().split(":")
    ds = get_dataset(name)
    split, limit = ds.default_split, None
    if len(rest) > 2:
        raise UnknownDataset(f"dataset spec {spec!r}: expected NAME[:SPLIT][:LIMIT]")
    if rest and not rest[0].isdigit():
        split = rest.pop(0)
        if split not in ds.splits:
            raise UnknownDataset(f"dataset {name!r} has no split {split!r} (splits: {', '.join(ds.splits)})")
    if rest:
        if not rest[0].isdigit() or int(rest[0]) <= 0:
            raise UnknownDataset(f"dataset spec {spec!r}: the limit after ':' must be a positive integer")
        limit = int(rest[0])
    return DatasetRef(name, split, limit)
