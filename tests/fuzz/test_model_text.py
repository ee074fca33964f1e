"""Property-based tests of every parser that reads model output.

Model text is untrusted input: whatever it holds, a parser returns its documented result
(a value, an abstention, a failure field) or raises its documented error — never anything else.
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lemmaflow.agents.nodes.rewoo_plan import Plan, PlanError, parse_plan
from lemmaflow.agents.nodes.tool_maker import ParsedTool, ToolFormatError, parse_tool_reply
from lemmaflow.agents.proving.coq_blocks import ParsedProof, extract_coq, split_blocks, statement_name
from lemmaflow.tools.answers.extract import Extraction, extract_answer, find_boxed
from lemmaflow.tools.logic import check_entailment
from lemmaflow.tools.logic.fol import FOLError, parse_formula

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pieces(*words: str) -> st.SearchStrategy[str]:
    """Text built from the syntax the parser cares about, mixed with noise."""
    return st.lists(st.one_of(st.sampled_from(words), st.text(alphabet=string.printable, max_size=6)),
                    max_size=30).map("".join)


FOL = pieces("forall x. ", "exists y. ", "P(x)", "Q(a, b)", "R(f(x))", " & ", " | ", " -> ", " <-> ", " xor ",
             "~", "¬", "∧", "∨", "→", "(", ")", ",", "=", "!=", " ", "x", "a")


@FAST
@given(text=st.one_of(FOL, st.text(max_size=80)))
def test_fol_parser(text):
    try:
        parse_formula(text)
    except FOLError as e:
        assert str(e)


@settings(max_examples=60, deadline=None)
@given(premises=st.lists(FOL, min_size=1, max_size=3), conclusion=FOL)
def test_check_entailment_returns_a_status_for_any_text(premises, conclusion):
    r = check_entailment(premises, conclusion, timeout_s=2)
    assert r.status in ("entailed", "contradicted", "unknown", "inconsistent", "timeout", "error")


def test_check_entailment_on_the_reported_deep_formulas():
    """20,000 nested negations and a 20,000-term conjunction: an error result, not RecursionError."""
    for f in ["~" * 20000 + "P(a)", " & ".join(f"P{i}(a)" for i in range(20000)), "(" * 20000 + "P(a)" + ")" * 20000]:
        r = check_entailment([f], "P(a)")
        assert r.status == "error" and "deeper than" in r.message
    assert check_entailment([" & ".join(f"P{i}(a)" for i in range(300))], "P0(a)").status == "entailed"


PLAN = pieces("Plan: ", "#E1 = ", "#E2 = ", "Calculator[", "python[", "LLM[", "]", "#E1", "\n", "print(", ")", "'",
              '"', "Search[", "#E3 = ")


@FAST
@given(text=st.one_of(PLAN, st.text(max_size=120)))
def test_rewoo_plan_parser(text):
    try:
        plan = parse_plan(text, ["Calculator", "LLM", "python"])
    except PlanError as e:
        assert str(e)
    else:
        assert isinstance(plan, Plan)


ANSWER = pieces("\\boxed{", "}", "{", "The answer is ", "#### ", "42", "-3.5", "1/2", "\\frac{1}{2}", " or ", "\n",
                "$", ",", "%", "answer: ", "7")


@FAST
@given(text=st.one_of(ANSWER, st.text(max_size=120), st.none()))
def test_answer_extraction(text):
    out = extract_answer(text)
    assert isinstance(out, Extraction)
    if text is not None:
        try:
            assert isinstance(find_boxed(text), list)
        except ValueError as e:  # documented: a box whose braces never close
            assert "unbalanced braces" in str(e)
            assert out.abstained


COQ = pieces("Theorem t : True.", "Lemma h (n : nat) : n = n.", "Proof.", "Qed.", "Admitted.", " intros.", " auto.",
             "(*", "*)", "\"", "```coq\n", "```\n", "Require Import Arith.", "Definition d := 1.", ".", "\n", "{", "}")


@FAST
@given(text=st.one_of(COQ, st.text(max_size=120)), name=st.sampled_from(["t", "h", "", "x.y"]))
def test_coq_block_splitter(text, name):
    code = extract_coq(text)
    parsed = split_blocks(code, name)
    assert isinstance(parsed, ParsedProof)
    assert isinstance(parsed.main_proof(), str)
    statement_name(text)


TOOL = pieces("```python\n", "```\n", "def f(x: int) -> int:\n", "    '''Doc.'''\n", "    return x\n",
              "assert f(1) == 1\n", "print(f(1))\n", "import os\n", "class A:\n", "lambda", "\n")


@FAST
@given(text=st.one_of(TOOL, st.text(max_size=120)))
def test_tool_maker_reply_parser(text):
    try:
        tool = parse_tool_reply(text)
    except ToolFormatError as e:
        assert str(e)
    else:
        assert isinstance(tool, ParsedTool) and tool.name


LEAN = pieces("theorem t : 1 = 1 := by", "lemma h (n : ℕ) : n = n := by", " rfl", " simp", " sorry", "\n", "  ",
              "import Mathlib\n", "open Nat\n", "/-- doc -/\n", "@[simp] ", "private ", "```lean\n", "```\n", ":= by\n",
              "/-", "-/", "--", "def f := 1\n", "(", ")")


@FAST
@given(text=st.one_of(LEAN, st.text(max_size=120)), name=st.sampled_from(["t", "h", "", "x.y"]))
def test_lean_block_splitter(text, name):
    from lemmaflow.agents.proving.lean_blocks import extract_lean, split_blocks as split_lean, statement_name as lean_name

    parsed = split_lean(extract_lean(text), name)
    assert isinstance(parsed.main_proof(), str)
    lean_name(text)
