"""The Example blocks of the search modules' docstrings run as written (they are the API docs)."""

import importlib
import re
import textwrap

import pytest

MODULES = [f"lemmaflow.agents.search.{m}" for m in ("base", "best_of_n", "beam", "dvts", "mcts", "particle_filter",
                                                     "math_steps")] + [
    "lemmaflow.agents.nodes.tree_search", "lemmaflow.agents.backends.coalesce", "lemmaflow.agents.backends.simulated"]


@pytest.mark.parametrize("name", MODULES)
def test_module_example_runs(name):
    mod = importlib.import_module(name)
    code = textwrap.dedent(re.split(r"Example[^\n]*::\n", mod.__doc__, maxsplit=1)[1])
    exec(compile(code, f"{name} docstring", "exec"), {})
