"""FOLIO's gold FOL through the real parser and z3: the measured agreement, mismatches all documented."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("folio_gold", ROOT / "benchmarks" / "folio_gold.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["folio_gold"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def result(bench):
    return bench.evaluate(timeout_s=20.0)


def test_agreement_is_exactly_the_measured_figure(result):
    assert result["n"] == 204
    assert result["agree"] == 191
    assert result["agree_unique_names"] == 191
    assert result["una_changes"] == []
    assert result["statuses"] == {"contradicted": 58, "entailed": 67, "error": 5, "unknown": 74}


def test_every_mismatch_is_documented_and_vice_versa(bench, result):
    assert set(result["mismatches"]) == set(bench.MISMATCHES)


def test_documented_repairs_give_the_gold_label_except_the_wrong_gold(result):
    rows = {r["id"]: r for r in result["rows"] if "category" in r}
    for rid, r in rows.items():
        if r["category"] == "wrong_gold_label":
            assert r["repaired_label"] != r["gold"], rid
        else:
            assert r["repaired_label"] == r["gold"], (rid, r)
    assert {r["category"] for r in rows.values()} == {"unparseable", "fol_not_nl", "wrong_gold_label"}
