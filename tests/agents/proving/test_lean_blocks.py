"""Lean 4 answers taken apart in Lean's own terms (theorem/lemma blocks, `:= by`, imports, opens, sorry)."""

from lemmaflow.agents.proving.languages import COQ, LEAN4, language_for
from lemmaflow.agents.proving.lean_blocks import (
    context_text, extract_lean, portable, references, split_blocks, statement_name,
)

HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n"

ANSWER = """Sure.
```lean4
import Mathlib
open Real
set_option maxRecDepth 1000

/-- Doubling, as a helper. -/
@[simp] lemma lf_double (x : ℕ) : x + x = 2 * x := by
  omega

private theorem lf_sq (a b : ℝ) (h₁ : a = b) :
    a ^ 2 = b ^ 2 := by
  rw [h₁]

def lf_f (n : ℕ) : ℕ := n + 1

theorem main_t (y : ℕ) (h₀ : y = 3) : y + y = 6 := by
  rw [lf_double, h₀]  -- uses lf_double
```
"""


def test_helpers_main_preamble_and_dropped_imports():
    p = split_blocks(extract_lean(ANSWER), "main_t")
    assert [b.name for b in p.helpers] == ["lf_double", "lf_sq"]
    assert p.main is not None and p.main.name == "main_t" and p.main.text.endswith("-- uses lf_double")
    assert p.helpers[0].statement == "lemma lf_double (x : ℕ) : x + x = 2 * x"  # attribute dropped, no ':='
    assert p.helpers[1].statement == "theorem lf_sq (a b : ℝ) (h₁ : a = b) : a ^ 2 = b ^ 2"
    assert "Doubling" not in p.helpers[0].text and "Doubling" not in p.preamble  # the doc comment goes with it
    assert p.dropped_imports == ["import Mathlib"]
    assert p.preamble.splitlines()[:2] == ["open Real", "set_option maxRecDepth 1000"]
    assert "def lf_f" in p.preamble  # a definition stays available to what follows
    assert all(b.closed for b in p.helpers)


def test_sorry_admit_and_cut_off_blocks_are_not_closed():
    code = ("theorem a1 : 1 = 1 := by\n  sorry\n"
            "theorem a2 : 2 = 2 := by\n  admit\n"
            "theorem a3 (h : 1 = 1) : 3 = 3\n"
            "theorem a4 : 4 = 4 := by\n  -- sorry in a comment is harmless\n  rfl\n"
            "theorem a5 : \"sorry\".length = 5 := by\n  rfl\n")
    p = split_blocks(code, "none")
    assert [(b.name, b.closed) for b in p.helpers] == [("a1", False), ("a2", False), ("a3", False),
                                                         ("a4", True), ("a5", True)]


def test_a_bare_tactic_block_is_the_main_proof():
    p = split_blocks("  nlinarith [sq_nonneg (a - b)]\n  simp\n", "t")
    assert p.main is None and not p.helpers and p.loose.strip().startswith("nlinarith")
    assert LEAN4.main_text(p, "theorem t (a b : ℝ) : 0 ≤ (a - b) ^ 2 := by\n") == p.loose  # the checker appends it
    p = split_blocks("open Real\n  positivity\n", "t")
    text = LEAN4.main_text(p, "theorem t (a : ℝ) : 0 ≤ a ^ 2 := by\n")
    assert text == "open Real\ntheorem t (a : ℝ) : 0 ≤ a ^ 2 := by\n  positivity"


def test_references_follow_lean_names():
    text = "  exact (h₁ x).trans lf_double.symm -- not lf_sq\n  simp [Nat.lf_succ]"
    names = {"h₁", "h", "lf_double", "lf_sq", "Nat.lf_succ", "lf_succ"}
    assert references(text, names) == {"h₁", "lf_double", "Nat.lf_succ"}


def test_context_is_sectioned_with_its_opens_and_portable_by_imports():
    ctx = context_text("theorem lf_double (x : ℕ) : x + x = 2 * x := by\n  omega", HEADER)
    lines = ctx.splitlines()
    assert lines[0] == "section" and lines[-1] == "end"
    assert "open BigOperators Real Nat Topology Rat" in lines and "set_option maxHeartbeats 400000" in lines
    assert not any(x.startswith("import") for x in lines)  # a context command cannot import
    assert portable(HEADER, HEADER) and portable("import Mathlib\nopen Real\n", HEADER)
    assert not portable("import Mathlib\nimport MyLib\n", HEADER)  # MyLib is not loaded there
    assert not portable("import Mathlib\ndef f := 1\n", HEADER)  # defines things: only under its own header
    assert statement_name("/-- doc -/\ntheorem foo.bar (x : ℕ) : x = x := rfl") == "foo.bar"


def test_the_kit_picks_the_language():
    assert language_for("coq") is COQ and language_for("lean4") is LEAN4
    assert "```lean4" in LEAN4.formal_prompt and ":= by" in LEAN4.formal_prompt and "Qed" not in LEAN4.formal_prompt
    assert "Qed" in COQ.formal_prompt and "Mathlib" not in COQ.formal_prompt
    assert LEAN4.with_proof("theorem r (x : ℕ) : x = x", "  rfl") == "theorem r (x : ℕ) : x = x := by\n  rfl"
    try:
        language_for("isabelle")
    except ValueError as e:
        assert "isabelle" in str(e)
    else:
        raise AssertionError("an unknown language must be refused")
