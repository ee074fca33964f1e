"""Splitting a solution into steps, and joining steps back.

Step-level verifiers, reward models and tree search all see a chain as a list
of steps. The default delimiter is a blank line (what PRMs such as
Qwen2.5-Math-PRM and HF search-and-learn use); a single newline also works for
terse chains. Steps are stripped and empty ones dropped, so
``join_steps(split_steps(t))`` normalises spacing but keeps every step.

Example::

    from lemmaflow.tools.steps import join_steps, split_steps

    steps = split_steps("First, 3+4=7.\\n\\nThen 7*2=14.\\n\\nSo \\\\boxed{14}.")
    assert steps == ["First, 3+4=7.", "Then 7*2=14.", "So \\\\boxed{14}."]
    assert split_steps(join_steps(steps)) == steps
"""

from __future__ import annotations

import re

__all__ = ["DEFAULT_DELIMITER", "join_steps", "split_steps"]

DEFAULT_DELIMITER = "\n\n"


def split_steps(text: str, delimiter: str = DEFAULT_DELIMITER) -> list[str]:
    """The non-empty, stripped steps of ``text``.

    With the blank-line delimiter, runs of blank lines (also with spaces, or
    ``\\r\\n`` line ends) count as one separator.
    """
    if not delimiter:
        raise ValueError("the step delimiter must be non-empty")
    text = text.replace("\r\n", "\n")
    if delimiter == DEFAULT_DELIMITER:
        parts = re.split(r"\n[ \t]*\n", text)
    else:
        parts = text.split(delimiter)
    return [p.strip() for p in parts if p.strip()]


def join_steps(steps: list[str], delimiter: str = DEFAULT_DELIMITER) -> str:
    return delimiter.join(s.strip() for s in steps)
