import asyncio

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.search import DVTS

from .toy import Digits


def test_dvts_subtrees_are_independent_and_batched():
    p = Digits()
    res = asyncio.run(DVTS(subtrees=2, width=2).search(p, RunContext(backend=ScriptedLM(["-"]))))
    # root into 2 x 2 actions: digits 0,1 | 2,0; subtree 1 keeps "0" (tie, first), subtree 2 keeps "2";
    # then both heads in one call with width 2 each, each subtree greedily keeping its best child
    assert p.proposed == [(1, 4), (2, 2), (2, 2)]
    assert len(res.leaves) == 2 and all(leaf.finished for leaf in res.leaves)
    assert [leaf.answer for leaf in res.leaves] == ["222", "022"]
    assert res.rounds == 3 and res.tokens == 4 + 4 + 4


def test_dvts_with_one_subtree_is_greedy():
    p = Digits()
    res = asyncio.run(DVTS(subtrees=1, width=3).search(p, RunContext(backend=ScriptedLM(["-"]))))
    assert res.best.answer == "222" and [leaf.answer for leaf in res.leaves] == ["222"]
