"""How many GSM8K test questions FOBAR can mask: coverage overall and per kind of number.

Run: ``.venv/bin/python benchmarks/fobar_masking.py`` (the 1319 GSM8K test questions, from the
dataset registry: the cache, or an offline copy named by ``--data-dir`` / ``$LEMMAFLOW_DATA``).
Prints the share of questions with at least one maskable number, and per kind
(integer, decimal, fraction, percent, money, word) the questions having one and
the number of candidates, plus a few unmasked questions to read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from lemmaflow.tools.masking import candidate_maskings

KINDS = ("integer", "decimal", "fraction", "percent", "money", "word")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="a GSM8K-style JSONL file (default: the registry's gsm8k test split)")
    ap.add_argument("--data-dir", help="an offline copy of the datasets (default: $LEMMAFLOW_DATA, else the cache)")
    ap.add_argument("--show-unmasked", type=int, default=5)
    args = ap.parse_args(argv)
    if args.data:
        questions = [json.loads(line)["question"] for line in open(args.data, encoding="utf-8") if line.strip()]
    else:
        from lemmaflow.tools.datasets import load_gsm8k

        questions = [p.question for p in load_gsm8k(data_dir=args.data_dir)]
    masked = 0
    q_with = Counter()
    cands = Counter()
    per_q = []
    unmasked = []
    for q in questions:
        ms = candidate_maskings(q)
        per_q.append(len(ms))
        if ms:
            masked += 1
        else:
            unmasked.append(q)
        for kind in {m.kind for m in ms}:
            q_with[kind] += 1
        cands.update(m.kind for m in ms)
    n = len(questions)
    print(f"GSM8K test questions: {n}")
    print(f"masked share (>= 1 maskable number): {masked}/{n} = {masked / n:.2%}")
    print(f"candidates per question: mean {sum(per_q) / n:.2f}, max {max(per_q)}")
    print(f"{'kind':10s} {'questions':>10s} {'share':>8s} {'candidates':>11s}")
    for kind in KINDS:
        print(f"{kind:10s} {q_with[kind]:10d} {q_with[kind] / n:8.2%} {cands[kind]:11d}")
    print(f"{'all':10s} {masked:10d} {masked / n:8.2%} {sum(cands.values()):11d}")
    for q in unmasked[: args.show_unmasked]:
        print("unmasked:", q[:160])
    return 0


if __name__ == "__main__":
    sys.exit(main())
