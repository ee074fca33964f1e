"""Property-based tests of every reader a user feeds: pipeline specs, compose search spaces,
``--set`` overrides, ``--model-for`` roles, library exports.

The contract: a malformed file or argument ends in the reader's documented error, whose message is
one line naming the file (or the argument) and the place; from the CLI, exit code 2, one line on
stderr, and nothing written to ``--out``. Never a traceback.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lemmaflow.agents.backends.factory import ModelSpec, parse_model_arg
from lemmaflow.agents.compose_space import SearchSpace, SpaceError, load_space
from lemmaflow.agents.spec import SpecError
from lemmaflow.cli import main, resolve_pipeline

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
ROOT = Path(__file__).resolve().parents[2]
PROBLEMS = ROOT / "examples" / "problems" / "easy_arithmetic.jsonl"

NODE_TYPES = ["self_consistency", "chain_of_thought", "vote", "fobar", "best_of_n", "ranker", "nope", ""]
FIELDS = ["n", "temperature", "max_tokens", "inner", "source", "k", "type", "config", "scorer", "adaptive"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(NODE_TYPES))
json_values = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=6)), kids, max_size=4)),
    max_leaves=20)
node = st.fixed_dictionaries({}, optional={"name": st.one_of(st.text(max_size=5), st.integers()),
                                           "type": st.sampled_from(NODE_TYPES) | json_values,
                                           "config": st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3)
                                           | json_values})
specs = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={"name": json_values, "inputs": json_values, "edges": json_values,
                                        "output": json_values, "models": json_values,
                                        "nodes": st.one_of(st.lists(node, max_size=3), json_values,
                                                           st.dictionaries(st.text(max_size=3), node, max_size=2))}),
)


def _one_line_naming(msg: str, name: str) -> None:
    assert "\n" not in msg, msg
    assert name in msg, msg
    assert "Traceback" not in msg and "errors.pydantic.dev" not in msg, msg


@FAST
@given(spec=specs, fmt=st.sampled_from(["yaml", "json"]))
def test_pipeline_spec_files(tmp_path_factory, spec, fmt):
    path = tmp_path_factory.mktemp("spec") / f"p.{fmt}"
    path.write_text(json.dumps(spec) if fmt == "json" else yaml.safe_dump(spec))
    try:
        pipe = resolve_pipeline(str(path), {"n": 2, "temperature": None, "max_tokens": 16})
    except SpecError as e:
        _one_line_naming(str(e), str(path))
    else:
        assert pipe.graph.number_of_nodes() >= 1


@FAST
@given(text=st.text(max_size=200))
def test_pipeline_spec_files_of_any_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("spec") / "p.yaml"
    path.write_text(text)
    try:
        resolve_pipeline(str(path), {})
    except SpecError as e:
        _one_line_naming(str(e), str(path))


@FAST
@given(sets=st.lists(st.one_of(
    st.text(max_size=20),
    st.builds(lambda n, f, v: f"{n}.{f}={v}", st.sampled_from(["sc", "x", ""]), st.sampled_from(FIELDS + ["", "a.b"]),
              st.one_of(st.text(max_size=8), json_values.map(json.dumps)))), max_size=3))
def test_set_overrides(sets):
    try:
        resolve_pipeline("sc", {}, sets)
    except SpecError as e:
        assert "\n" not in str(e) and ("--set" in str(e) or "sc:" in str(e)), str(e)


@FAST
@given(arg=st.one_of(
    st.text(max_size=40),
    st.builds(lambda r, k, m, u: f"{r}={k}{m}{u}", st.sampled_from(["prm", "verifier", "", "a b"]),
              st.sampled_from(["embedded", "vllm", "openai", "vllm_reward", "http_reward", "same", "x", ""]),
              st.sampled_from(["", ":m", ":", ":a:b"]), st.sampled_from(["", "@http://127.0.0.1:1/v1", "@", "@@x"])),
    st.builds(lambda r, j: f"{r}={j}", st.sampled_from(["prm", "v"]), json_values.map(json.dumps)),
))
def test_model_for_roles(arg):
    try:
        role, spec = parse_model_arg(arg)
    except ValueError as e:
        _one_line_naming(str(e), "--model-for")
    else:
        assert role and isinstance(spec, ModelSpec)


LAYERS = ["critic", "ranker", "fuser", "reviser", "vote", "nope"]
space_values = st.one_of(json_values, st.fixed_dictionaries({"choices": st.lists(json_values, max_size=3)}),
                         st.fixed_dictionaries({"int": st.lists(st.integers(-3, 9), max_size=3)}),
                         st.fixed_dictionaries({"float": st.lists(st.floats(-1, 2), max_size=3)}))
spaces = st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "generator": st.fixed_dictionaries({}, optional={"type": st.sampled_from(NODE_TYPES) | space_values,
                                                     "config": st.dictionaries(st.sampled_from(FIELDS), space_values, max_size=3)}),
    "samples": space_values, "search": json_values,
    "layers": st.lists(st.fixed_dictionaries({}, optional={"type": st.sampled_from(LAYERS) | json_values,
                                                           "optional": json_values,
                                                           "config": st.dictionaries(st.sampled_from(FIELDS), space_values, max_size=3)}),
                       max_size=3) | json_values}))


@FAST
@given(space=spaces)
def test_compose_search_spaces(tmp_path_factory, space):
    path = tmp_path_factory.mktemp("space") / "s.yaml"
    path.write_text(yaml.safe_dump(space))
    try:
        out = load_space(path)
    except SpaceError as e:
        _one_line_naming(str(e), str(path))
    else:
        assert isinstance(out, SearchSpace)


@FAST
@given(lines=st.lists(st.one_of(json_values.map(json.dumps), st.text(max_size=40),
                                st.fixed_dictionaries({"kind": st.sampled_from(["lemma", "tool", "x"]),
                                                       "name": st.text(max_size=8), "language": st.sampled_from(["coq", "lean4", "python", "?"]),
                                                       "source": st.text(max_size=30), "statement": st.text(max_size=20)},
                                                      optional={"tests": json_values, "status": json_values}).map(json.dumps)),
                      max_size=6))
def test_library_exports(tmp_path_factory, lines):
    from lemmaflow.skills_library import open_store
    from lemmaflow.skills_library.embedding import HashingEmbedder
    from lemmaflow.skills_library.transfer import import_jsonl

    d = tmp_path_factory.mktemp("lib")
    src = d / "export.jsonl"
    src.write_text("\n".join(lines) + "\n")
    store = open_store(str(d / "lib.db"), embedder=HashingEmbedder())
    try:
        report = import_jsonl(store, src)
        n_lines = src.read_text().count("\n")  # a text row may hold newlines of its own
        assert report.added + report.duplicates + report.near_duplicates + len(report.errors) <= n_lines
        for line_no, err in report.errors:
            assert 1 <= line_no <= n_lines and "\n" not in err
    finally:
        store.close()


# --- through the CLI: exit 2, one line, nothing written -------------------------------------------------------


@pytest.mark.parametrize("spec_text", [
    "nodes: {a: {type: sc}}\n",                                        # the reported case: nodes as a mapping
    "nodes:\n  - {name: a, type: self_consistency, config: {n: x}}\n",
    "nodes:\n  - {name: a, type: vote, config: {inner: {type: nope}}}\n",
    "nodes:\n  - a\n",
    "nodes: [\n",
    "- 1\n- 2\n",
    "nodes:\n  - {name: a, type: self_consistency, config: 3}\n",
    "models: {prm: {kind: 3}}\nnodes:\n  - {name: a, type: self_consistency}\n",
])
def test_cli_solve_with_a_malformed_spec(tmp_path, capsys, spec_text):
    spec = tmp_path / "bad.yaml"
    spec.write_text(spec_text)
    out = tmp_path / "out.jsonl"
    rc = main(["solve", "--input", str(PROBLEMS), "--pipeline", str(spec), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and str(spec) in err, err
    assert not out.exists()


@pytest.mark.parametrize("args", [["--set", "sc.n=abc"], ["--set", "nosuch.n=1"], ["--set", "sc"],
                                  ["--model-for", "prm"], ["--model-for", 'prm={"kind": 3}'], ["--model-for", "prm={"]])
def test_cli_solve_with_bad_arguments(tmp_path, capsys, args):
    out = tmp_path / "out.jsonl"
    rc = main(["solve", "--input", str(PROBLEMS), "--pipeline", "sc", "--out", str(out), *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_cli_compose_with_a_malformed_space(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("generator: {type: chain_of_thought}\nlayers: [{type: ranker, config: {top_k: {int: [3, 1]}}}]\n")
    rc = main(["compose", str(space), "--dev", str(PROBLEMS), "--budget-tokens", "100", "--out", str(tmp_path / "c")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and str(space) in err and "layers[0].config" in err, err
    assert not (tmp_path / "c" / "compose.md").exists()


ROW_KEYS = ["question", "answer", "problem", "id", "gold", "premises", "conclusion", "label"]
rows = st.one_of(json_values, st.dictionaries(st.sampled_from(ROW_KEYS), json_values, max_size=4),
                 st.fixed_dictionaries({"question": st.text(max_size=20)},
                                       optional={"answer": st.one_of(st.text(max_size=12), st.integers()),
                                                 "id": json_values}))


@FAST
@given(body=st.one_of(
    st.lists(st.one_of(rows.map(json.dumps), st.text(max_size=30)), max_size=5).map("\n".join).map(lambda t: ("jsonl", t)),
    json_values.map(json.dumps).map(lambda t: ("json", t)),
    st.lists(rows, max_size=4).map(json.dumps).map(lambda t: ("json", t)),
    st.lists(st.lists(st.text(alphabet=string.ascii_letters + ",\"\n 0123456789", max_size=8), max_size=3), max_size=4)
      .map(lambda rs: "\n".join(",".join(r) for r in rs)).map(lambda t: ("csv", t)),
    st.binary(max_size=40).map(lambda b: ("jsonl", b)),
))
def test_problem_files(tmp_path_factory, body):
    """Any problem file: problems plus (place, reason) for bad rows, or one InputError line naming the file."""
    from lemmaflow.tools.datasets.readers import InputError, read_problems

    fmt, content = body
    path = tmp_path_factory.mktemp("in") / f"p.{fmt}"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    try:
        loaded = read_problems(str(path))
    except InputError as e:
        _one_line_naming(str(e), str(path))
    else:
        for place, reason in loaded.errors:
            assert "\n" not in str(reason), reason
        assert all(p.question for p in loaded.problems)
