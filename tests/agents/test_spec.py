import asyncio
import json

import pytest

from lemmaflow.agents import RunContext, SpecError, load_pipeline
from lemmaflow.agents.backends import ScriptedLM

GOOD = """
name: sc
inputs: {question: str}
nodes:
  - {name: sc, type: self_consistency, config: {n: 3, temperature: 0.5}}
edges:
  - {from: input.question, to: sc.question}
output: sc
"""


def test_yaml_and_json_specs_load(tmp_path, checker):
    y = tmp_path / "p.yaml"
    y.write_text(GOOD)
    pipe = load_pipeline(y)
    assert pipe.graph.nodes["sc"]["node"].config.n == 3
    j = tmp_path / "p.json"
    j.write_text(json.dumps(pipe.to_spec()))
    pipe2 = load_pipeline(j)
    assert pipe2.to_spec() == pipe.to_spec()
    ctx = RunContext(backend=ScriptedLM(["\\boxed{5}"]), checker=checker)
    assert asyncio.run(pipe2.run({"question": "?"}, ctx)).outputs["answer"] == "5"


@pytest.mark.parametrize(
    "text, match",
    [
        ("nodes: [", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        (GOOD.replace("self_consistency", "self_consistensy"), "unknown node type 'self_consistensy'"),
        (GOOD.replace("n: 3", "n: -3"), r"node 'sc' \(self_consistency\): invalid config"),
        (GOOD.replace("temperature: 0.5", "temprature: 0.5"), "temprature"),
        (GOOD.replace("output: sc", "outputs: sc"), "invalid pipeline spec"),
        (GOOD.replace("input.question", "input.q"), "has no output field 'q'"),
    ],
)
def test_bad_specs_give_clear_errors(tmp_path, text, match):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises((SpecError, ValueError), match=match) as info:
        load_pipeline(f)
    assert str(f) in str(info.value)  # the message says which file


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        load_pipeline(tmp_path / "nope.yaml")


def test_shipped_pipelines_load():
    from lemmaflow.cli import BUILTIN_PIPELINES, resolve_pipeline

    for name in BUILTIN_PIPELINES:
        pipe = resolve_pipeline(name, {"n": 5, "max_tokens": 64})
        node = next(iter(pipe.graph.nodes.values()))["node"]
        if node.kind == "vote":
            assert node.config.k == 5 and node.inner.config.max_tokens == 64
            continue
        assert node.config.max_tokens == 64
        if hasattr(node.config, "n"):
            assert node.config.n == 5


MODELS = GOOD + """
models:
  verifier: {kind: openai, model: Qwen/Qwen2.5-7B-Instruct, base_url: "http://127.0.0.1:8001/v1"}
  prm: {kind: vllm_reward, model: /models/Qwen2.5-Math-PRM-7B, options: {max_model_len: 2048}}
  critic: {kind: same}
"""


def test_models_section_builds_specs_and_round_trips(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(MODELS)
    pipe = load_pipeline(f)
    specs = pipe.model_specs
    assert sorted(specs) == ["critic", "prm", "verifier"]
    assert specs["verifier"].kind == "openai" and specs["verifier"].base_url.endswith(":8001/v1")
    assert specs["prm"].options == {"max_model_len": 2048} and specs["critic"].kind == "same"
    j = tmp_path / "p.json"
    j.write_text(json.dumps(pipe.to_spec()))
    again = load_pipeline(j)
    assert again.model_specs == specs and again.to_spec() == pipe.to_spec()


def test_no_models_section_keeps_the_spec_unchanged(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(GOOD)
    assert "models" not in load_pipeline(f).to_spec()  # so existing result keys stay valid


@pytest.mark.parametrize(
    "models, match",
    [
        ("{verifier: {kind: gpt4}}", r"(?s)invalid pipeline spec.*models\.verifier\.kind.*'embedded', 'vllm', 'openai'"),
        ("{verifier: {kind: openai}}", "model kind 'openai' needs a model name"),
        ("{prm: {kind: vllm_reward, model: m, temperature: 1}}", r"(?s)models\.prm\.temperature.*Extra inputs"),
    ],
)
def test_bad_models_section_is_a_spec_error(tmp_path, models, match):
    f = tmp_path / "bad.yaml"
    f.write_text(GOOD + f"models: {models}\n")
    with pytest.raises(SpecError, match=match):
        load_pipeline(f)


def test_the_node_table_is_the_one_place_nodes_are_registered():
    """agents/registry.py's table names every built-in node; the class agrees with its key, and
    nodes.BUILTIN_NODES and default_registry() are that table (no node module imports the registry's users)."""
    from lemmaflow.agents.nodes import BUILTIN_NODES
    from lemmaflow.agents.registry import BUILTIN_NODE_TYPES, default_registry

    reg = default_registry()
    assert [c.kind for c in BUILTIN_NODES] == list(BUILTIN_NODE_TYPES) == list(dict.fromkeys(BUILTIN_NODE_TYPES))
    assert sorted(BUILTIN_NODE_TYPES) == reg.kinds()
    assert all(reg.get(c.kind) is c for c in BUILTIN_NODES)
