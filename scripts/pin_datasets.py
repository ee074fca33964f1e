"""Regenerate tools/datasets/manifest.json (sha256 and size of every pinned file) from a copy of the data.

    .venv/bin/python scripts/pin_datasets.py /path/to/data          # writes the manifest
    .venv/bin/python scripts/pin_datasets.py /path/to/data --check  # exit 1 if it would change

The copy must hold byte-identical upstream files at the commits named in
tools/datasets/registry.py (same layout as the cache: <folder>/<path>). Files the
registry does not map to an upstream path (e.g. a derived gsm8k/test_200.jsonl)
are skipped and listed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from lemmaflow.tools.datasets.registry import _RAW, _upstream_path

MANIFEST = Path(__file__).resolve().parents[1] / "tools" / "datasets" / "manifest.json"


def build(root: Path) -> tuple[dict, list[str]]:
    files, skipped = {}, []
    for raw in _RAW:
        folder = root / raw["folder"]
        if not folder.is_dir():
            raise SystemExit(f"{folder}: missing")
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            try:
                _upstream_path(raw["upstream"], rel)
            except KeyError:
                skipped.append(f"{raw['folder']}/{rel}")
                continue
            data = path.read_bytes()
            files[f"{raw['folder']}/{rel}"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    return {"format": 1, "files": files}, skipped


def render(manifest: dict) -> str:
    """One file per line: the diff of a re-pin shows exactly which files changed."""
    lines = [f"  {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in sorted(manifest["files"].items())]
    return '{\n "format": 1,\n "files": {\n' + ",\n".join(lines) + "\n }\n}\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    manifest, skipped = build(args.root)
    text = render(manifest)
    for s in skipped:
        print(f"skipped (no upstream path): {s}", file=sys.stderr)
    if args.check:
        same = MANIFEST.read_text(encoding="utf-8") == text
        print("manifest up to date" if same else "manifest differs", file=sys.stderr)
        return 0 if same else 1
    MANIFEST.write_text(text, encoding="utf-8")
    print(f"wrote {MANIFEST}: {len(manifest['files'])} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
