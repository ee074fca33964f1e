"""A small emitter of search trace events for trace-view tests (the shape search algorithms emit)."""

from lemmaflow.agents.trace import Trace

# id -> (parent, text, score, visits, tokens, terminal, answer)
TREE = {
    0: (None, "Question: Tom has 3 apples and buys 4 more.", None, 6, 0, False, None),
    1: (0, "Step 1: 3 + 4 = 7 apples.", 0.91, 4, 12, False, None),
    2: (0, "Step 1: 3 * 4 = 12 apples. <script>alert('x')</script>", 0.12, 2, 14, False, None),
    3: (1, "So the answer is \\boxed{7}.", 0.95, 3, 9, True, "7"),
    4: (1, "Maybe 8? <b>bold</b> & more", 0.30, 1, 7, True, "8"),
    5: (2, "So \\boxed{12}.", 0.10, 1, 6, True, "12"),
}
CHOSEN = [0, 1, 3]


def emit_search_tree(problem_id: str = "p-search", node: str = "search", algorithm: str = "beam") -> Trace:
    trace = Trace(problem_id=problem_id)
    for nid, (parent, text, score, visits, tokens, terminal, answer) in TREE.items():
        depth = 0 if parent is None else (1 if parent == 0 else 2)
        trace.add("search_node", node, id=nid, parent=parent, depth=depth, text=text, score=score,
                  visits=visits, tokens=tokens, terminal=terminal, answer=answer)
    trace.add("search_result", node, algorithm=algorithm, chosen=CHOSEN, answer="7")
    return trace
