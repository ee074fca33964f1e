"""Trace view: one problem's reasoning as a tree, as a self-contained HTML page or a text outline.

Reads the trace JSONL that ``lemmaflow solve --trace`` (or ``Trace.save_jsonl``)
writes and rebuilds, for one problem:

- **search trees** from ``search_node`` events (``id, parent, depth, text, score,
  visits, tokens, terminal, answer``; a later event for the same id updates it, as
  MCTS does when visits change), ``search_result`` (``algorithm``, ``chosen``:
  node ids root..leaf of the top-scored leaf, ``answer``) and ``search_answer``
  (what the node reported: a vote over leaves may pick another leaf than the
  top-scored one): the reported solution's path is highlighted, and the answer
  vote over the leaves (``vote``) is shown beside the tree;
- **votes** (self-consistency, ``Vote``) from ``vote`` events: answer classes under
  the question, each sample a leaf of its class (or, for ``Vote`` over chains such
  as ToRA, the sample's own chain), the winning class highlighted;
- **chains** from ``llm_call``/``tool_call`` events of one node (ToRA rounds:
  generation → code → output → generation ...);
- **plans** from ``plan`` events (ReWOO steps, Decompose sub-questions: ``graph``,
  ``steps`` with ``id, text, detail, deps, answer, error``; the node's last event
  wins): a DAG drawn as a tree under its latest dependency, every dependency
  listed on the node (``needs Q1, Q2``); ReWOO steps show their evidence.

The HTML page has no external resources (inline CSS and JS; nothing is
fetched), and every piece of model text is HTML-escaped.

Example::

    from lemmaflow.agents.trace_view import load_trace, build_view, render_html, render_text

    events = load_trace("runs/trace.jsonl")            # problem id -> events
    view = build_view(events["gsm8k-0"], "gsm8k-0")
    print(render_text(view))
    open("tree.html", "w").write(render_html(view))
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel

__all__ = ["Section", "ViewNode", "VoteRow", "ProblemView", "build_view", "load_trace", "render_html", "render_text"]


class ViewNode(BaseModel):
    id: str  # unique within the page
    parent: str | None = None
    kind: str = "step"  # root, step, class, sample, gen, tool
    title: str = ""
    text: str = ""
    score: float | None = None
    visits: int | None = None
    tokens: int | None = None
    answer: str | None = None
    terminal: bool = False
    chosen: bool = False  # on the chosen path / in the winning class
    ok: bool | None = None  # tool calls: did the code run
    deps: list[str] = []  # plan steps: the steps this one needs (a DAG; ``parent`` is the latest of them)


class VoteRow(BaseModel):
    """One answer class of a vote shown beside a search tree."""

    answer: str
    weight: float
    share: float
    leaves: list[str] = []  # page ids of the leaves in this class
    winner: bool = False


class Section(BaseModel):
    title: str
    summary: str = ""
    nodes: list[ViewNode] = []
    vote: list[VoteRow] = []  # search trees: the answer vote over the leaves, if the node voted

    def children(self) -> dict[str | None, list[ViewNode]]:
        ids = {n.id for n in self.nodes}
        out: dict[str | None, list[ViewNode]] = {}
        for n in self.nodes:
            out.setdefault(n.parent if n.parent in ids else None, []).append(n)
        return out


class ProblemView(BaseModel):
    problem_id: str
    question: str | None = None
    sections: list[Section] = []


def load_trace(path: str | Path) -> dict[str, list[dict]]:
    """Events by problem id, in file order. Lines that are not JSON objects are skipped."""
    out: dict[str, list[dict]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(ev, dict) and "kind" in ev:
                out.setdefault(str(ev.get("problem_id")), []).append(ev)
    return out


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _search_section(path: str, events: list[dict], sid: str) -> Section:
    nodes: dict[str, ViewNode] = {}
    result: dict = {}
    decided: dict = {}
    vote: dict = {}
    for ev in events:
        d = ev.get("data", {})
        if ev["kind"] == "search_result":
            result = d
            continue
        if ev["kind"] == "search_answer":
            decided = d
            continue
        if ev["kind"] == "vote":
            vote = d
            continue
        nid = str(d.get("id"))
        node = nodes.get(nid) or ViewNode(id=f"{sid}-{nid}", kind="step")
        parent = d.get("parent")
        if "parent" in d:
            node.parent = None if parent is None else f"{sid}-{parent}"
        for field in ("text", "answer"):
            if d.get(field) is not None:
                setattr(node, field, str(d[field]))
        if _num(d.get("score")) is not None:
            node.score = _num(d["score"])
        for field in ("visits", "tokens"):
            if isinstance(d.get(field), int):
                setattr(node, field, d[field])
        if "terminal" in d:
            node.terminal = bool(d["terminal"])
        depth = d.get("depth")
        node.title = f"node {nid}" + (f" · depth {depth}" if depth is not None else "")
        nodes[nid] = node
    # The node's decision wins over the search's own ranking: it is what the result reports.
    chosen = [str(x) for x in (decided or result).get("chosen", []) or []]
    for nid in chosen:
        if nid in nodes:
            nodes[nid].chosen = True
    algo = result.get("algorithm", "search")
    summary = f"{len(nodes)} nodes"
    if decided:
        summary += (f"; reported answer {decided.get('answer')!r} by {decided.get('aggregate', '?')} over "
                    f"{len(decided.get('leaves') or [])} leaves; its path {' → '.join(chosen) or '(none)'}")
        top = [str(x) for x in result.get("chosen", []) or []]
        if top and top != chosen:
            summary += f"; the top-scored leaf ({top[-1]}) answered {result.get('answer')!r}"
    elif result:
        summary += f"; chosen path {' → '.join(chosen) or '(none)'}; answer {result.get('answer')!r}"
    rows: list[VoteRow] = []
    leaves = [str(x) for x in decided.get("leaves", []) or []]
    classes = vote.get("classes", []) or []
    total = sum(float(c.get("votes", 0) or 0) for c in classes) or 1.0
    for c in classes:
        idx = [i for i in c.get("samples", []) or [] if isinstance(i, int) and 0 <= i < len(leaves)]
        rows.append(VoteRow(answer=str(c.get("answer")), weight=float(c.get("votes", 0) or 0),
                            share=float(c.get("votes", 0) or 0) / total, leaves=[f"{sid}-{leaves[i]}" for i in idx],
                            winner=vote.get("winner") is not None and str(c.get("answer")) == str(vote.get("winner"))))
    return Section(title=f"{algo} at {path or 'root'}", summary=summary, nodes=list(nodes.values()), vote=rows)


def _chain_nodes(events: list[dict], sid: str, parent: str | None, chosen: bool) -> list[ViewNode]:
    """llm_call / tool_call events of one chain as a path: each step the child of the one before."""
    nodes: list[ViewNode] = []
    for ev in events:
        d = ev.get("data", {})
        if ev["kind"] == "llm_call":
            outs = [t for o in d.get("outputs", []) or [] for t in o]
            text = "\n---\n".join(outs) if outs else "(text not recorded)"
            node = ViewNode(id=f"{sid}-{len(nodes)}", kind="gen", title=f"generation {len(nodes) + 1}", text=text,
                            tokens=d.get("completion_tokens"), chosen=chosen)
        elif ev["kind"] == "tool_call":
            out = d.get("output", d.get("stdout", ""))
            node = ViewNode(id=f"{sid}-{len(nodes)}", kind="tool", title="code → output",
                            text=f"{d.get('code', '')}\n>>> output\n{out}", ok=d.get("ok"), chosen=chosen)
        else:
            continue
        node.parent = nodes[-1].id if nodes else parent
        nodes.append(node)
    if nodes:
        nodes[-1].terminal = True
    return nodes


def _vote_section(path: str, vote: dict, events: list[dict], sid: str) -> Section:
    d = vote.get("data", {})
    winner = d.get("winner")
    classes = d.get("classes", []) or []
    calls = [e for e in events if e.get("node") == path and e["kind"] == "llm_call"]
    root = ViewNode(id=f"{sid}-root", kind="root", title=f"vote at {path or 'root'}", chosen=True,
                    answer=None if winner is None else str(winner),
                    tokens=sum(e["data"].get("completion_tokens", 0) for e in events
                               if e["kind"] == "llm_call" and _under(e.get("node") or "", path)))
    nodes = [root]
    # Samples are the node's own outputs (SC) or its children's chains (Vote over s0, s1, ...).
    own = [t for e in calls for o in e["data"].get("outputs", []) or [] for t in o]
    tops = set()
    for ev in events:
        node = ev.get("node") or ""
        if node.startswith(path + "/"):
            head = node[len(path) + 1:].split("/")[0]
            if re.fullmatch(r"s\d+", head):
                tops.add((int(head[1:]), f"{path}/{head}"))
    tops = [p for _, p in sorted(tops)]
    n_samples = len(own) if own else len(tops)
    placed: set[int] = set()
    total = sum(float(c.get("votes", 0)) for c in classes) or 1.0
    for ci, c in enumerate(classes):
        is_winner = winner is not None and str(c.get("answer")) == str(winner)
        cls = ViewNode(id=f"{sid}-c{ci}", parent=root.id, kind="class", title=f"answer class {ci + 1}",
                       answer=str(c.get("answer")), score=float(c.get("votes", 0)) / total, chosen=is_winner,
                       text=f"{c.get('votes')} vote(s), samples {c.get('samples')}")
        nodes.append(cls)
        for i in c.get("samples", []) or []:
            placed.add(i)
            nodes += _sample(i, own, tops, events, sid, cls.id, is_winner)
    rest = [i for i in range(n_samples) if i not in placed]
    if rest:
        ab = ViewNode(id=f"{sid}-abstained", parent=root.id, kind="class", title="no answer",
                      text=f"{len(rest)} sample(s) without an extractable answer")
        nodes.append(ab)
        for i in rest:
            nodes += _sample(i, own, tops, events, sid, ab.id, False)
    summary = (f"{n_samples} samples, {len(classes)} answer classes, winner {winner!r} "
               f"(confidence {d.get('confidence', 0):.2f})")
    return Section(title=f"vote at {path or 'root'}", summary=summary, nodes=nodes)


def _sample(i: int, own: list[str], tops: list[str], events: list[dict], sid: str, parent: str,
            chosen: bool) -> list[ViewNode]:
    if own:
        if i >= len(own):
            return []
        return [ViewNode(id=f"{sid}-s{i}", parent=parent, kind="sample", title=f"sample {i}", text=own[i],
                         chosen=chosen, terminal=True)]
    if i >= len(tops):
        return []
    chain = [e for e in events if _under(e.get("node") or "", tops[i])]
    head = ViewNode(id=f"{sid}-s{i}", parent=parent, kind="sample", title=f"sample {i} ({tops[i]})", chosen=chosen)
    return [head, *_chain_nodes(chain, f"{sid}-s{i}", head.id, chosen)]


def _plan_section(path: str, plan: dict, events: list[dict], sid: str) -> Section:
    d = plan.get("data", {})
    steps = [x for x in d.get("steps", []) or [] if isinstance(x, dict)]
    graph = str(d.get("graph", "plan"))
    evidence = {str(e["data"].get("step")): e["data"] for e in events
                if e["kind"] == "tool_call" and _under(e.get("node") or "", path) and e["data"].get("step")}
    root = ViewNode(id=f"{sid}-root", kind="root", title=f"{graph} at {path or 'root'}", chosen=True)
    nodes, ids, edges = [root], {}, 0
    for st in steps:
        sid_ = str(st.get("id"))
        deps = [str(x) for x in st.get("deps", []) or []]
        known = [x for x in deps if x in ids]
        edges += len(known)
        text = str(st.get("text", ""))
        if st.get("detail"):
            text += f"\n{st['detail']}"
        ev = evidence.get(sid_)
        ok = None
        if ev is not None:
            text += f"\n>>> evidence\n{ev.get('output', '')}"
            ok = ev.get("ok")
        if st.get("error"):
            text += f"\n>>> error\n{st['error']}"
            ok = False
        node = ViewNode(id=f"{sid}-{len(nodes)}", parent=ids[known[-1]] if known else root.id, kind="step",
                        title=sid_, text=text, deps=deps, ok=ok,
                        answer=None if st.get("answer") is None else str(st["answer"]))
        ids[sid_] = node.id
        nodes.append(node)
    return Section(title=f"{graph} graph at {path or 'root'}", summary=f"{len(steps)} steps, {edges} dependencies",
                   nodes=nodes)


def build_view(events: Iterable[dict], problem_id: str) -> ProblemView:
    """Sections (search trees, votes, chains) of one problem's events."""
    events = list(events)
    question = None
    for e in events:
        if e["kind"] == "llm_call" and e["data"].get("prompts"):
            question = str(e["data"]["prompts"][0])
            break
    view = ProblemView(problem_id=problem_id, question=question)
    covered: list[str] = []
    search_paths = list(dict.fromkeys(e.get("node") or "" for e in events
                                      if e["kind"] in ("search_node", "search_result")))
    for k, path in enumerate(search_paths):
        evs = [e for e in events if (e.get("node") or "") == path
               and e["kind"] in ("search_node", "search_result", "search_answer", "vote")]
        view.sections.append(_search_section(path, evs, f"t{k}"))
        covered.append(path)
    votes = [e for e in events if e["kind"] == "vote"]
    # Outer votes first, so a vote inside another vote's sample stays part of that sample's chain.
    for k, vote in enumerate(sorted(votes, key=lambda e: (e.get("node") or "").count("/"))):
        path = vote.get("node") or ""
        if any(_under(path, c) for c in covered):
            continue
        view.sections.append(_vote_section(path, vote, events, f"v{k}"))
        covered.append(path)
    plans = {e.get("node") or "": e for e in events if e["kind"] == "plan"}  # the last event per node wins
    for k, (path, plan) in enumerate(plans.items()):
        view.sections.append(_plan_section(path, plan, events, f"p{k}"))
    chain_paths = list(dict.fromkeys(e.get("node") or "" for e in events if e["kind"] in ("llm_call", "tool_call")))
    for k, path in enumerate(chain_paths):
        if any(_under(path, c) for c in covered):
            continue
        nodes = _chain_nodes([e for e in events if (e.get("node") or "") == path], f"c{k}", None, True)
        view.sections.append(Section(title=f"chain at {path or 'root'}", summary=f"{len(nodes)} steps", nodes=nodes))
    return view


# --- text outline ---------------------------------------------------------------------------


def _short(text: str, width: int = 90) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def _facts(n: ViewNode) -> str:
    parts = []
    if n.score is not None:
        parts.append(f"score={n.score:.3g}")
    if n.visits is not None:
        parts.append(f"visits={n.visits}")
    if n.tokens is not None:
        parts.append(f"tok={n.tokens}")
    if n.answer is not None:
        parts.append(f"answer={n.answer!r}")
    if n.ok is not None:
        parts.append("ran ok" if n.ok else "code failed")
    if n.deps:
        parts.append(f"needs {','.join(n.deps)}")
    if n.terminal:
        parts.append("terminal")
    return " ".join(parts)


def render_text(view: ProblemView) -> str:
    """An indented outline; ``*`` marks the chosen path / winning class."""
    lines = [f"problem {view.problem_id}"]
    if view.question:
        lines.append(f"  question: {_short(view.question, 120)}")
    if not view.sections:
        lines.append("  (no search, vote or LLM events for this problem)")
    for sec in view.sections:
        lines.append(f"\n{sec.title} — {sec.summary}")
        for row in sec.vote:
            mark = "*" if row.winner else " "
            lines.append(f"  {mark} vote: answer {row.answer!r} weight {row.weight:.3g} ({row.share:.0%}), "
                         f"{len(row.leaves)} leaves")
        kids = sec.children()

        def walk(node: ViewNode, depth: int) -> None:
            mark = "*" if node.chosen else " "
            lines.append(f"{'  ' * depth}{mark} [{node.title}] {_facts(node)}  {_short(node.text)}".rstrip())
            for c in kids.get(node.id, []):
                walk(c, depth + 1)

        for root in kids.get(None, []):
            walk(root, 0)
    return "\n".join(lines) + "\n"


# --- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:16px 24px;color:#1d232b;background:#f6f7f9}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 2px}
.meta{color:#56606c;margin:0 0 8px}.q{background:#fff;border:1px solid #d8dde3;border-radius:6px;padding:8px 10px;
white-space:pre-wrap;max-height:9em;overflow:auto;font-size:13px}
.toolbar{margin:10px 0}.toolbar button{font:inherit;margin-right:6px;padding:3px 10px;border:1px solid #b9c1cb;
border-radius:5px;background:#fff;cursor:pointer}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:22px}ul.tree{padding-left:0}
ul.tree li{position:relative;margin:6px 0}
ul.tree ul>li::before{content:"";position:absolute;left:-14px;top:-6px;width:12px;height:22px;
border-left:2px solid #c3cad3;border-bottom:2px solid #c3cad3;border-bottom-left-radius:4px}
ul.tree ul>li:not(:last-child)::after{content:"";position:absolute;left:-14px;top:14px;bottom:-8px;border-left:2px solid #c3cad3}
ul.tree li.on-path::before,ul.tree li.on-path::after{border-color:#2e9e5b}
.node{display:inline-block;min-width:260px;max-width:920px;background:#fff;border:1px solid #cfd6de;border-radius:7px;
padding:5px 9px;box-shadow:0 1px 2px rgba(0,0,0,.05)}
.node.chosen{border:2px solid #2e9e5b;background:#effaf3}
.node.kind-class{background:#f4f1fb}.node.kind-class.chosen{background:#e6f6ec}
.node.kind-tool{background:#fbf8ef}.node.tool-failed{border-color:#d9534f}
.head{display:flex;flex-wrap:wrap;gap:6px;align-items:center}
.title{font-weight:600}.badge{font-size:12px;padding:0 6px;border-radius:9px;background:#e9edf2;color:#333}
.badge.ans{background:#fff2c6}.badge.deps{background:#dde8f7}.badge.win{background:#2e9e5b;color:#fff}
pre.text{margin:4px 0 0;white-space:pre-wrap;word-break:break-word;font:12.5px/1.35 ui-monospace,Menlo,Consolas,monospace;
max-height:7.5em;overflow:auto;color:#27303a}
body.full pre.text{max-height:none}
body.only-chosen li:not(.on-path){display:none}
table.vote{border-collapse:collapse;margin:4px 0 10px;background:#fff;font-size:13px}
table.vote caption{text-align:left;color:#56606c;font-size:12px}
table.vote td,table.vote th{border:1px solid #d8dde3;padding:2px 8px;text-align:left}
table.vote tr.win td{background:#e6f6ec;font-weight:600}
"""

_JS = """
function toggle(cls,btn){document.body.classList.toggle(cls);btn.classList.toggle('on');}
"""


def _node_html(n: ViewNode, kids: dict, out: list[str]) -> None:
    e = html.escape
    cls = ["node", f"kind-{e(n.kind)}"] + (["chosen"] if n.chosen else []) + (["terminal"] if n.terminal else [])
    if n.ok is False:
        cls.append("tool-failed")
    badges = []
    if n.score is not None:
        badges.append(f'<span class="badge score">score {n.score:.3g}</span>')
    if n.visits is not None:
        badges.append(f'<span class="badge visits">visits {n.visits}</span>')
    if n.tokens is not None:
        badges.append(f'<span class="badge tokens">{n.tokens} tok</span>')
    if n.answer is not None:
        badges.append(f'<span class="badge ans">answer {e(n.answer)}</span>')
    if n.ok is not None:
        badges.append(f'<span class="badge">{"ran ok" if n.ok else "failed"}</span>')
    if n.deps:
        badges.append(f'<span class="badge deps">needs {e(", ".join(n.deps))}</span>')
    if n.chosen:
        badges.append('<span class="badge win">chosen</span>')
    out.append(f'<li class="{"on-path" if n.chosen else ""}"><div class="{" ".join(cls)}" data-node-id="{e(n.id)}">'
               f'<div class="head"><span class="title">{e(n.title)}</span>{"".join(badges)}</div>')
    if n.text:
        out.append(f'<pre class="text">{e(n.text)}</pre>')
    out.append("</div>")
    children = kids.get(n.id, [])
    if children:
        out.append("<ul>")
        for c in children:
            _node_html(c, kids, out)
        out.append("</ul>")
    out.append("</li>")


def _vote_table(rows: list[VoteRow]) -> str:
    """The answer vote over a search's leaves, beside its tree (the winner marked)."""
    e = html.escape
    out = ['<table class="vote"><caption>answer vote over the leaves</caption>'
           '<tr><th>answer</th><th>weight</th><th>share</th><th>leaves</th></tr>']
    for r in rows:
        leaves = ", ".join(x.rsplit("-", 1)[-1] for x in r.leaves)
        out.append(f'<tr class="{"win" if r.winner else ""}"><td>{e(r.answer)}{" ✓" if r.winner else ""}</td>'
                   f'<td>{r.weight:.3g}</td><td>{r.share:.0%}</td><td>{e(leaves)}</td></tr>')
    out.append("</table>")
    return "".join(out)


def render_html(view: ProblemView, title: str | None = None) -> str:
    """A self-contained page (inline CSS/JS, no external resources); all trace text escaped."""
    e = html.escape
    title = title or f"lemmaflow trace: {view.problem_id}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
        'script-src \'unsafe-inline\'">',
        f"<title>{e(title)}</title><style>{_CSS}</style><script>{_JS}</script></head><body>",
        f"<h1>{e(title)}</h1>",
    ]
    if view.question:
        parts.append(f'<div class="q">{e(view.question)}</div>')
    parts.append('<div class="toolbar"><button type="button" onclick="toggle(\'only-chosen\',this)">only the chosen '
                 'path</button><button type="button" onclick="toggle(\'full\',this)">full texts</button></div>')
    if not view.sections:
        parts.append('<p class="meta">No search, vote or LLM events for this problem.</p>')
    for sec in view.sections:
        parts.append(f'<section class="trace-section"><h2>{e(sec.title)}</h2><p class="meta">{e(sec.summary)}</p>')
        if sec.vote:
            parts.append(_vote_table(sec.vote))
        kids = sec.children()
        out: list[str] = ['<ul class="tree">']
        for root in kids.get(None, []):
            _node_html(root, kids, out)
        out.append("</ul></section>")
        parts += out
    parts.append("</body></html>")
    return "\n".join(parts)
