"""One-line messages for invalid configs: where in the file, and what is wrong.

pydantic's own message for a ``ValidationError`` spans several lines per error and ends
with a URL; a person fixing a spec wants one line that names the place. ``describe``
gives ``nodes.0.config.n: Input should be a valid integer (and 1 more error)``.

Example::

    from pydantic import BaseModel, ValidationError
    from lemmaflow.agents.validation import describe

    class C(BaseModel):
        n: int

    try:
        C(n="x")
    except ValidationError as e:
        print(describe(e))     # n: Input should be a valid integer, unable to parse string as an integer
"""

from __future__ import annotations

from pydantic import ValidationError

__all__ = ["describe", "one_line"]


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def describe(e: ValidationError, limit: int = 1) -> str:
    """The first ``limit`` errors as ``place: message``, on one line, with a count of the rest."""
    errors = e.errors(include_url=False)
    parts = []
    for err in errors[:limit]:
        msg = one_line(str(err.get("msg", "invalid")))
        got = err.get("input")
        if err.get("type") in ("missing",) or isinstance(got, (dict, list)):
            parts.append(f"{_loc(err.get('loc', ()))}: {msg}")
        else:
            shown = repr(got)
            parts.append(f"{_loc(err.get('loc', ()))}: {msg} (got {shown[:60]}{'…' if len(shown) > 60 else ''})")
    rest = len(errors) - limit
    if rest > 0:
        parts.append(f"and {rest} more error{'s' if rest > 1 else ''}")
    return "; ".join(parts)


def one_line(text: str, width: int = 400) -> str:
    """Collapse whitespace (newlines included) and cut to ``width`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
