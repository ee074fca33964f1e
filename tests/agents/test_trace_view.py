"""Trace view: search trees, SC votes and ToRA-style chains rebuilt from trace events; HTML in a real browser."""

import asyncio
import re
import shutil
import subprocess

import pytest

from lemmaflow.agents import RunContext
from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.nodes import ChainOfThought, SelfConsistency, Vote
from lemmaflow.agents.trace import Trace
from lemmaflow.agents.trace_view import build_view, load_trace, render_html, render_text

from .trace_emit import CHOSEN, TREE, emit_search_tree


def test_search_tree_nodes_and_chosen_path():
    view = build_view(emit_search_tree().to_dicts(), "p-search")
    (sec,) = view.sections
    assert sec.title == "beam at search" and len(sec.nodes) == len(TREE)
    by = {n.id.split("-")[-1]: n for n in sec.nodes}
    assert sorted(int(k) for k, n in by.items() if n.chosen) == CHOSEN
    assert by["3"].score == 0.95 and by["3"].visits == 3 and by["3"].tokens == 9 and by["3"].answer == "7"
    assert by["3"].terminal and not by["1"].terminal
    assert by["4"].parent == by["1"].id and by["0"].parent is None


def test_search_node_updates_merge():
    """MCTS re-emits a node when its visits/value change: the last values win, the text stays."""
    t = emit_search_tree()
    t.add("search_node", "search", id=1, visits=9, score=0.5)
    (sec,) = build_view(t.to_dicts(), "p").sections
    node = next(n for n in sec.nodes if n.id.endswith("-1"))
    assert (node.visits, node.score, node.text) == (9, 0.5, TREE[1][1])
    assert len(sec.nodes) == len(TREE)


def test_html_escapes_model_text():
    html = render_html(build_view(emit_search_tree().to_dicts(), "p<x>"))
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt; &amp; more" in html
    assert "p&lt;x&gt;" in html
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html


def test_text_outline_marks_the_chosen_path():
    text = render_text(build_view(emit_search_tree().to_dicts(), "p-search"))
    starred = re.findall(r"^\s*\* \[node (\d+)", text, re.M)
    assert [int(x) for x in starred] == CHOSEN
    assert "answer='7'" in text and "visits=6" in text


def test_sc_trace_groups_samples_by_answer_class(checker):
    lm = ScriptedLM(["\\boxed{2}", "\\boxed{3}", "\\boxed{2.0}", "no idea"])
    ctx = RunContext(backend=lm, checker=checker, problem_id="p1")
    asyncio.run(SelfConsistency(n=4)(ctx.child("sc"), question="1+1?"))
    (sec,) = build_view(ctx.trace.to_dicts(), "p1").sections
    classes = [n for n in sec.nodes if n.kind == "class"]
    assert [(c.answer, c.chosen) for c in classes] == [("2", True), ("3", False), (None, False)]
    samples = {n.title: n for n in sec.nodes if n.kind == "sample"}
    assert len(samples) == 4
    assert samples["sample 0"].parent == samples["sample 2"].parent == classes[0].id
    assert samples["sample 0"].chosen and samples["sample 2"].chosen and not samples["sample 1"].chosen
    assert samples["sample 3"].parent == classes[2].id and samples["sample 3"].text == "no idea"


def test_vote_over_chains_and_tool_rounds(checker):
    """Vote over chains: each sample is its own chain (ToRA rounds are generation → code → generation)."""
    lm = ScriptedLM(["\\boxed{5}", "\\boxed{6}", "\\boxed{5}"])
    ctx = RunContext(backend=lm, checker=checker, problem_id="p2")
    asyncio.run(Vote(inner=ChainOfThought(temperature=0.7), k=3)(ctx.child("vote"), question="2+3?"))
    (sec,) = build_view(ctx.trace.to_dicts(), "p2").sections
    gens = [n for n in sec.nodes if n.kind == "gen"]
    assert len(gens) == 3 and {g.text for g in gens} == {"\\boxed{5}", "\\boxed{6}"}
    assert all(g.chosen == (g.text == "\\boxed{5}") for g in gens)

    # A ToRA-shaped chain: llm_call, tool_call, llm_call at one node path.
    t = Trace(problem_id="p3")
    t.add("llm_call", "tora", outputs=[["Compute.\n```python\nprint(6*7)\n```"]], completion_tokens=11)
    t.add("tool_call", "tora", code="print(6*7)", output="42", ok=True)
    t.add("llm_call", "tora", outputs=[["So \\boxed{42}."]], completion_tokens=5)
    (chain,) = build_view(t.to_dicts(), "p3").sections
    assert [n.kind for n in chain.nodes] == ["gen", "tool", "gen"]
    assert [n.parent for n in chain.nodes] == [None, chain.nodes[0].id, chain.nodes[1].id]
    assert chain.nodes[1].ok and "42" in chain.nodes[1].text and chain.nodes[2].terminal


def test_load_trace_skips_torn_lines(tmp_path):
    p = tmp_path / "t.jsonl"
    emit_search_tree("a").save_jsonl(p)
    emit_search_tree("b").save_jsonl(p)
    with open(p, "a") as f:
        f.write('{"kind": "search_no')  # a torn last line
    events = load_trace(p)
    assert sorted(events) == ["a", "b"] and len(events["a"]) == len(TREE) + 1


CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (scripts/setup.sh installs it)")
def test_page_renders_in_headless_chromium(tmp_path):
    from PIL import Image

    page = tmp_path / "tree.html"
    page.write_text(render_html(build_view(emit_search_tree().to_dicts(), "p-search")), encoding="utf-8")
    base = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    nodes = re.findall(r'<div class="node ([^"]*)" data-node-id="([^"]+)"', dom)
    assert len(nodes) == len(TREE)
    chosen = [nid for cls, nid in nodes if "chosen" in cls.split()]
    assert [int(x.split("-")[-1]) for x in chosen] == CHOSEN
    # The model's <script> arrived as text, not as an element the browser ran.
    assert dom.count("<script>") == 1 and "&lt;script&gt;alert" in dom
    shot = tmp_path / "shot.png"
    subprocess.run([*base, f"--screenshot={shot}", "--window-size=1000,700", page.as_uri()],
                   capture_output=True, timeout=120)
    with Image.open(shot) as im:
        assert im.format == "PNG" and im.size == (1000, 700)
        rgb = im.convert("RGB")
        colors = rgb.getcolors(maxcolors=1 << 20)
        # Not blank: many colours (text, badges), and the highlight green of the chosen path is drawn.
        assert len(colors) > 100
        assert any(abs(r - 0x2E) < 12 and abs(g - 0x9E) < 12 and abs(b - 0x5B) < 12 for _, (r, g, b) in colors)


def test_plan_graphs_rewoo_evidence_and_decompose_dag():
    """ReWOO steps with their evidence, and a Decompose DAG (Q3 needs Q1 and Q2) drawn under its latest dependency."""
    from lemmaflow.agents.nodes import Decompose, ReWOO
    from lemmaflow.agents.nodes.agent_tools import ToolRegistry, ToolResult

    class Arith:  # a registry is passed explicitly; a trivial tool keeps this test sandbox-free
        name, description, python_input = "calc", "integer arithmetic", False

        def usable(self, ctx):
            return True

        async def __call__(self, arg, ctx):
            return ToolResult(text=str(eval(arg, {"__builtins__": {}})), ok=True)

    plan = "Plan: count\n#E1 = Calc[3 * 12]\nPlan: subtract\n#E2 = Calc[#E1 - 5]"
    lm = ScriptedLM(lambda p, i: plan if "make plans" in p else "\\boxed{31}")
    ctx = RunContext(backend=lm, problem_id="p")
    asyncio.run(ReWOO(tools=ToolRegistry([Arith()]))(ctx, question="pencils?"))
    view = build_view(ctx.trace.to_dicts(), "p")
    sec = next(s for s in view.sections if s.title == "rewoo graph at rewoo")
    root, e1, e2 = sec.nodes
    assert (e1.title, e1.parent, e1.ok) == ("#E1", root.id, True) and ">>> evidence\n36" in e1.text
    assert (e2.parent, e2.deps) == (e1.id, ["#E1"]) and "calc[#E1 - 5]" in e2.text and e2.text.endswith("31")

    decomp = "Q1: boxes?\nQ2: later?\nQ3: left? [uses Q1, Q2]"
    lm = ScriptedLM(lambda p, i: decomp if "Break the problem" in p else "<b>\\boxed{7}</b>")
    ctx = RunContext(backend=lm, problem_id="d")
    asyncio.run(Decompose()(ctx, question="pencils?"))
    view = build_view(ctx.trace.to_dicts(), "d")
    sec = next(s for s in view.sections if s.title == "decompose graph at decompose")
    root, q1, q2, q3 = sec.nodes
    assert sec.summary == "3 steps, 2 dependencies"
    assert q1.parent == q2.parent == root.id and q3.parent == q2.id and q3.deps == ["Q1", "Q2"]
    assert [q.answer for q in (q1, q2, q3)] == ["7", "7", "7"]  # the last plan event (with answers) won
    assert "needs Q1,Q2" in render_text(view)
    page = render_html(view)
    assert '<span class="badge deps">needs Q1, Q2</span>' in page and "<b>" not in page
