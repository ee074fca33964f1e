"""Datasets on the command line: ``lemmaflow data ls | fetch | path`` and the problem-source options.

Examples::

    lemmaflow data ls                         # the registry: splits, sizes, pinned sources, what is local
    lemmaflow data fetch gsm8k folio          # download into ~/.cache/lemmaflow/data, verify sha256
    lemmaflow data path minif2f-lean4         # the folder (fetched first if needed)
    lemmaflow solve --dataset gsm8k:test_200 --out runs/gsm8k.jsonl
    lemmaflow solve --input hf:openai/gsm8k:main:test --out runs/hf.jsonl
    lemmaflow solve --input mine.csv --question-field prompt --answer-field target --out runs/mine.jsonl

``solve``, ``bench`` and ``compose`` get their problems through
:func:`add_problem_arguments` and :func:`open_problems_from_args` (``solve``, ``bench``: read lazily,
so memory stays flat on any input size) or :func:`load_problems_from_args` (``compose``: a list)
— one place for ``--input``, ``--dataset``, ``--data-dir`` and the column mapping. A source that
cannot be read ends in one line naming it and the place, and exit code 2.
"""

from __future__ import annotations

import argparse
from typing import Any, NamedTuple, Sequence

__all__ = [
    "add_parser",
    "add_problem_arguments",
    "add_data_dir_argument",
    "load_problems_from_args",
    "open_problems_from_args",
    "keyed",
    "LoadedProblems",
    "StreamedProblems",
    "print_error",
    "report_skipped",
]

DATASET_HELP = ("a registered dataset NAME[:SPLIT][:LIMIT] (lemmaflow data ls), e.g. gsm8k, gsm8k:50, "
                "gsm8k:test_200, math500:100, folio, proofwriter; fetched into the cache on first use")
INPUT_HELP = ("problems: JSONL, .json, .csv or .parquet file, or a Hugging Face dataset "
              "hf:ORG/NAME[:CONFIG]:SPLIT (or hf:PATH[:SPLIT] of a save_to_disk folder)")


class LoadedProblems(NamedTuple):
    problems: list
    errors: list[tuple[int, str]]  # skipped rows: (place, reason)
    label: str  # the source as the user named it
    unit: str  # "line" or "row": what ``place`` counts


def print_error(console, prog: str, message: str) -> None:
    """One line, never wrapped, never read as rich markup (messages contain [brackets])."""
    from rich.text import Text

    console.print(Text.assemble((f"{prog}: ", "red"), str(message)), soft_wrap=True)


def add_data_dir_argument(parser) -> None:
    parser.add_argument("--data-dir", metavar="DIR",
                        help="an offline copy of the datasets (same layout as the cache; hashes are verified) "
                             "instead of downloading into the cache (default: $LEMMAFLOW_DATA, else the cache)")


def add_problem_arguments(parser, *, required: bool = True, input_help: str = INPUT_HELP):
    """``--input`` / ``--dataset`` (one of them), ``--data-dir`` and the column mapping; returns the group."""
    src = parser.add_mutually_exclusive_group(required=required)
    src.add_argument("--input", metavar="FILE", help=input_help)
    src.add_argument("--dataset", metavar="NAME[:SPLIT][:LIMIT]", help=DATASET_HELP)
    add_data_dir_argument(parser)
    parser.add_argument("--question-field", metavar="COL", help="the --input column holding the question")
    parser.add_argument("--answer-field", metavar="COL", help="the --input column holding the gold answer")
    parser.add_argument("--id-field", metavar="COL", help="the --input column holding the problem id")
    return src


def load_problems_from_args(args, *, input: str | None = None, dataset: str | None = None,
                            limit: int | None = None) -> LoadedProblems:
    """The problems ``--input`` or ``--dataset`` name, cut to ``limit``.

    Raises ``ValueError`` (unknown dataset, unreadable source: one line with the
    place) or ``OSError`` (missing file, failed download, wrong hash).
    """
    from lemmaflow.tools.datasets import Columns, get_dataset, load_dataset, parse_dataset_spec, read_problems
    from lemmaflow.tools.datasets.readers import place_unit

    input = input if input is not None else getattr(args, "input", None)
    dataset = dataset if dataset is not None else getattr(args, "dataset", None)
    if input is not None:
        columns = Columns(getattr(args, "question_field", None), getattr(args, "answer_field", None),
                          getattr(args, "id_field", None))
        loaded = read_problems(input, columns)
        problems, errors, label, unit = loaded.problems, loaded.errors, input, place_unit(input)
    else:
        ref = parse_dataset_spec(dataset)
        kind = get_dataset(ref.name).kind
        if kind != "problems":
            raise ValueError(f"{ref.name} is a theorem-proving dataset ({kind}): run it with lemmaflow prove --dataset {ref.name}")
        problems = load_dataset(dataset, data_dir=getattr(args, "data_dir", None))
        errors, label, unit = [], dataset, "row"
    if limit:
        problems = problems[:limit]
    return LoadedProblems(problems, errors, label, unit)


def report_skipped(console, loaded: LoadedProblems) -> None:
    for place, err in loaded.errors:
        print_skipped(console, loaded.label, loaded.unit, place, err)


def print_skipped(console, label: str, unit: str, place: int, err: str) -> None:
    """One skipped input row: ``FILE:LINE: skipped: reason`` (or ``FILE: row N: ...``)."""
    where = f"{label}:{place}" if unit == "line" else f"{label}: row {place}"
    console.print(f"{where}: skipped: {err}", style="yellow", markup=False, soft_wrap=True)


class StreamedProblems(NamedTuple):
    """The problems of ``--input``/``--dataset`` as :func:`open_problems_from_args` gives them.

    ``problems``: a re-iterable source (a :class:`~lemmaflow.tools.datasets.readers.ProblemStream`
    re-reads the file on each pass; a registered dataset is a list); ``errors`` fills as bad rows are met.
    """

    problems: Any
    errors: list[tuple[int, str]]
    label: str
    unit: str

    def total_hint(self) -> int | None:
        """A cheap count (rows, not parsed problems) for a progress bar; None if unknown."""
        from lemmaflow.tools.datasets.readers import size_hint

        return size_hint(self.problems)

    def first(self):
        """The first valid problem (reading, and reporting, the bad rows before it), or None."""
        return next(iter(self.problems), None)


def keyed(problems, runner, keys):
    """``problems``, read lazily, each one's result key (``runner.key``) added to ``keys`` as it is read:
    the final table's filter, without holding the problems."""
    for p in problems:
        keys.add(runner.key(p))
        yield p


def open_problems_from_args(args, console, *, limit: int | None = None) -> StreamedProblems:
    """The problems ``--input`` or ``--dataset`` name, cut to ``limit``, read lazily.

    A ``--input`` JSONL, CSV or Parquet file is read as it is iterated (each pass from the start:
    ``bench`` re-reads it per pipeline); ``.json`` and ``hf:`` sources, and ``--dataset``, are held
    whole. Each bad row is printed on ``console`` once (:func:`print_skipped`): when it is met, or now
    for a ``--dataset``. Raises as :func:`load_problems_from_args` does for a source that cannot be opened.
    """
    from lemmaflow.tools.datasets import Columns
    from lemmaflow.tools.datasets.readers import ProblemStream, place_unit

    input = getattr(args, "input", None)
    if input is None:
        loaded = load_problems_from_args(args, limit=limit)
        report_skipped(console, loaded)
        return StreamedProblems(loaded.problems, loaded.errors, loaded.label, loaded.unit)
    columns = Columns(getattr(args, "question_field", None), getattr(args, "answer_field", None),
                      getattr(args, "id_field", None))
    unit = place_unit(input)
    stream = ProblemStream(input, columns, limit=limit,
                           on_error=lambda place, err: print_skipped(console, input, unit, place, err))
    return StreamedProblems(stream, stream.errors, input, unit)


# ---- lemmaflow data ----------------------------------------------------------------------------


def add_parser(subparsers) -> None:
    d = subparsers.add_parser(
        "data", help="benchmark datasets by name: list, fetch (verified) and locate them",
        description=("The registered datasets, each pinned to upstream files at one commit with their sha256. "
                     "Files are downloaded into the user cache (~/.cache/lemmaflow/data; $LEMMAFLOW_DATA_CACHE or "
                     "--cache-dir to move it) and verified, or read from an offline copy (--data-dir or "
                     "$LEMMAFLOW_DATA). $LEMMAFLOW_DATA_MIRROR (or --mirror) downloads from a mirror with the "
                     "cache's layout instead of GitHub."))
    common = argparse.ArgumentParser(add_help=False)
    add_data_dir_argument(common)
    common.add_argument("--cache-dir", metavar="DIR", help="the download cache (default: $LEMMAFLOW_DATA_CACHE, "
                        "$LEMMAFLOW_CACHE/data or ~/.cache/lemmaflow/data)")
    common.add_argument("--mirror", metavar="URL", help="download from URL/<path> instead of the pinned raw GitHub URLs")
    sub = d.add_subparsers(dest="data_command", metavar="ls|fetch|path", required=True)
    sub.add_parser("ls", parents=[common], help="list the datasets, their splits and what is local")
    f = sub.add_parser("fetch", parents=[common], help="download and verify datasets (every file: data, license)")
    f.add_argument("names", nargs="*", metavar="NAME")
    f.add_argument("--all", action="store_true", help="every registered dataset")
    f.add_argument("--force", action="store_true", help="download again even files already verified in the cache")
    p = sub.add_parser("path", parents=[common], help="print a dataset's folder (fetching it first)")
    p.add_argument("name", metavar="NAME[:SPLIT]")
    p.add_argument("--no-fetch", action="store_true", help="only print where it is or would be")
    d.set_defaults(handler=data_command)


def data_command(args) -> int:
    from rich.console import Console

    from lemmaflow.tools.datasets import DataError, DataSource, UnknownDataset

    console = Console(stderr=True)
    try:
        src = DataSource.resolve(args.data_dir, cache_dir=args.cache_dir, mirror=args.mirror)
        if args.data_command == "ls":
            return _ls(src)
        if args.data_command == "fetch":
            return _fetch(src, args, console)
        return _path(src, args)
    except UnknownDataset as e:
        print_error(console, "lemmaflow data", e)
        return 2
    except DataError as e:
        print_error(console, "lemmaflow data", e)
        return 1


def _ls(src) -> int:
    from rich.console import Console
    from rich.table import Table

    from lemmaflow.tools.datasets import DATASETS

    where = f"offline copy {src.root} ({src.origin})" if src.offline else f"cache {src.root}"
    table = Table(title=f"lemmaflow datasets ({where})")
    for col in ("name", "splits (items)", "files", "MB", "source (pinned commit)", "license", "local"):
        table.add_column(col)
    for ds in DATASETS.values():
        states = [src.status(f) for f in ds.files]
        ok = states.count("ok")
        local = ("yes" if ok == len(states) else "no" if ok == 0 and "corrupt" not in states
                 else f"{ok}/{len(states)} files" + (f", {states.count('corrupt')} corrupt" if "corrupt" in states else ""))
        splits = ", ".join(f"{n} ({s.items})" + (" *" if n == ds.default_split else "") for n, s in ds.splits.items())
        table.add_row(ds.name, splits, str(len(ds.files)), f"{ds.size / 1e6:.2f}", f"{ds.repo}@{ds.commit[:7]}",
                      ds.license, local)
    Console(width=200).print(table)
    print("* default split. NAME[:SPLIT][:LIMIT] names a dataset: --dataset gsm8k:test_200, minif2f-coq:test")
    return 0


def _fetch(src, args, console) -> int:
    from lemmaflow.tools.datasets import DATASETS, fetch_dataset, get_dataset

    names: Sequence[str] = list(DATASETS) if args.all else args.names
    if not names:
        print_error(console, "lemmaflow data fetch", "name at least one dataset (or --all); see lemmaflow data ls")
        return 2
    for name in names:
        get_dataset(name)  # every name known before anything is downloaded
    for name in names:
        counts = {"ok": 0, "downloaded": 0}

        def on_file(f, what: str, counts: dict[str, Any] = counts) -> None:
            counts[what] += 1

        folder = fetch_dataset(name, src, force=args.force, on_file=on_file)
        print(f"{name}: {sum(counts.values())} files verified ({counts['downloaded']} downloaded) in {folder}")
    return 0


def _path(src, args) -> int:
    from lemmaflow.tools.datasets import dataset_path, get_dataset

    name, _, split = args.name.partition(":")
    ds = get_dataset(name)
    if split:
        ds.split_files(split)  # UnknownDataset for a bad split
    if args.no_fetch:
        print(src.root / ds.folder)
        return 0
    print(dataset_path(name, split or None, src))
    return 0
