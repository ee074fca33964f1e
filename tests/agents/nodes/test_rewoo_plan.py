"""The ReWOO plan grammar: accepted plans, and every kind of malformed plan as a typed, line-numbered error."""

import pytest

from lemmaflow.agents.nodes.rewoo_plan import (
    EmptyPlanError, EvidenceReferenceError, PlanSyntaxError, UnknownToolError, parse_plan, scan_bracketed,
)

TOOLS = ["python", "sympy", "retrieve"]


def parse(text):
    return parse_plan(text, TOOLS, ["python"])


def test_steps_tools_inputs_and_dependencies():
    plan = parse("\nPlan: count pencils\n#E1 = Python[print(3 * 12)]\n\nplan: look up\n#E2 = Retrieve[gcd]\n"
                 "Plan: subtract\n#E3 = SymPy[#E1 - 5 + #E1]\n")
    assert [(s.index, s.tool, s.input, s.deps, s.line) for s in plan.steps] == [
        (1, "python", "print(3 * 12)", (), 3), (2, "retrieve", "gcd", (), 6), (3, "sympy", "#E1 - 5 + #E1", (1,), 8)]
    assert [[s.index for s in lvl] for lvl in plan.levels()] == [[1, 2], [3]]
    again = parse(plan.render())  # the canonical form parses back to the same steps
    assert [(s.index, s.plan, s.tool, s.input, s.deps) for s in again.steps] == \
        [(s.index, s.plan, s.tool, s.input, s.deps) for s in plan.steps]
    assert "#E3 = SymPy[#E1 - 5 + #E1]" in plan.render()  # the tool spelled as the model wrote it


def test_python_input_spans_lines_and_ignores_brackets_in_strings_and_comments():
    text = 'Plan: code\n#E1 = Python[xs = [1, [2]]\ns = "]" + \'[\'  # a ] in a comment\nprint(xs[0], #E0 if 0 else 1)]'
    with pytest.raises(EvidenceReferenceError):  # #E0 is a reference, not a comment
        parse(text)
    plan = parse(text.replace("#E0 if 0 else 1", "len(s)"))
    assert plan.steps[0].input.startswith("xs = [1, [2]]\n") and plan.steps[0].input.endswith("print(xs[0], len(s))")
    # Other tools count brackets only: an apostrophe is plain text.
    assert parse("Plan: q\n#E1 = Retrieve[Pythagoras' theorem [right triangles]]").steps[0].input == \
        "Pythagoras' theorem [right triangles]"


@pytest.mark.parametrize("text, err, line, words", [
    ("I will compute it.\nPlan: a\n#E1 = Python[1]", PlanSyntaxError, 1, "expected 'Plan: ...'"),
    ("Plan: a\n#E1 = Python[1]\nThe answer is 1.", PlanSyntaxError, 3, "got 'The answer is 1.'"),
    ("Plan: a\n#E1 = Google[x]", UnknownToolError, 2, "unknown tool 'Google'; available: python, sympy, retrieve"),
    ("Plan: a\n#E2 = Python[1]", PlanSyntaxError, 2, "expected #E1, got #E2"),
    ("Plan: a\n#E1 = Python[1]\nPlan: b\n#E2 = Sympy[#E3 + 1]", EvidenceReferenceError, 4, "#E3"),
    ("Plan: a\n#E1 = Sympy[#E1 + 1]", EvidenceReferenceError, 2, "no earlier step"),
    ("Plan: a\n#E1 = Python[print(1)", PlanSyntaxError, 2, "never closed"),
    ("Plan: a\n#E1 = Python[print(1)] then more", PlanSyntaxError, 2, "unexpected text after"),
    ("Plan: a\n#E1 = Sympy[  ]", PlanSyntaxError, 2, "empty input"),
    ("#E1 = Python[1]", PlanSyntaxError, 1, "no 'Plan:' line before it"),
    ("Plan: a\nPlan: b\n#E1 = Python[1]", PlanSyntaxError, 2, "second 'Plan:'"),
    ("Plan: a\n#E1 = Python[1]\nPlan: dangling", PlanSyntaxError, 3, "without a step"),
    ("Plan:\n#E1 = Python[1]", PlanSyntaxError, 1, "needs a description"),
    ("", EmptyPlanError, 0, "no steps"),
    ("\n \n", EmptyPlanError, 0, "no steps"),
])
def test_malformed_plans_name_the_line(text, err, line, words):
    with pytest.raises(err) as info:
        parse(text)
    assert info.value.line == line and words in str(info.value)
    if line:
        assert str(info.value).startswith(f"line {line}: ")


def test_scan_bracketed():
    assert scan_bracketed("a[b]c]", 0) == 5
    assert scan_bracketed("x = '['] ", 0, python=True) == 7
    assert scan_bracketed("never", 0) is None
