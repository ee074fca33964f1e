"""Persistent skill library (lemmas, tools, runs) — not built yet.

This package is reserved for the later stage that stores verified lemmas,
sandbox-tested tools and run records (SQLite). Nodes already receive it
explicitly through ``RunContext.store``; nothing here is importable API yet.
"""

__all__: list[str] = []
