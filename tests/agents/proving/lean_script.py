"""Scripted Lean answers for three miniF2F-Lean4 problems (for the REPL double): the first proves a helper,
the other two only cite it, so they are provable only with the library (the double's `apply N` closes a goal
iff N is declared). Shared by the job tests and the kill -9 worker."""

from __future__ import annotations

import re

NAMES = ["mathd_algebra_182", "amc12a_2015_p10", "mathd_numbertheory_780"]
HELPER = "lf_key_step"


def answer_for(prompt: str, i: int = 0) -> str:
    """The formal answer for the problem the prompt names (sketch prompts get a sketch)."""
    if "Informal proof:" in prompt:
        return "Expand and compare coefficients."
    m = re.search(r"theorem (\w+)", prompt.split("Theorem to prove:")[-1])
    name = m.group(1) if m else ""
    if name == NAMES[0]:
        return ("```lean4\nimport Mathlib\nopen Real\n\n"
                f"/-- the key step -/\ntheorem {HELPER} (y : ℂ) : 7 * (3 * y + 2) = 21 * y + 14 := by\n  ring\n\n"
                f"theorem {name} (y : ℂ) : 7 * (3 * y + 2) = 21 * y + 14 := by\n  apply {HELPER}\n```")
    if name in NAMES:
        return f"```lean4\n  apply {HELPER}\n```"  # a bare tactic block continuing `:= by`
    return "I do not know."
