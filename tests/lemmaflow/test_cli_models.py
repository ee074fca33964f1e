"""--model-for and named models in the CLI: parsing, `same`, clear exits before anything loads."""

import subprocess
import sys
from pathlib import Path

import pytest

from lemmaflow.agents.backends import ScriptedLM
from lemmaflow.agents.backends.factory import ModelSpec, make_model, parse_model_arg
from lemmaflow.cli import build_models, build_parser, model_specs, resolve_pipeline

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "problems" / "easy_arithmetic.jsonl"


@pytest.mark.parametrize(
    "arg, role, expected",
    [
        ("verifier=same", "verifier", dict(kind="same", model=None, base_url=None)),
        ("verifier=embedded", "verifier", dict(kind="embedded", model=None)),
        ("v=openai:Qwen/Qwen2.5-7B-Instruct@http://127.0.0.1:8001/v1", "v",
         dict(kind="openai", model="Qwen/Qwen2.5-7B-Instruct", base_url="http://127.0.0.1:8001/v1")),
        ("prm=vllm_reward:/models/Qwen2.5-Math-PRM-7B", "prm", dict(kind="vllm_reward", model="/models/Qwen2.5-Math-PRM-7B")),
        ("prm=http_reward:org/prm:v2@http://h:1", "prm", dict(kind="http_reward", model="org/prm:v2", base_url="http://h:1")),
        (' prm = {"kind": "vllm_reward", "model": "m", "seed": 3, "options": {"max_model_len": 512}}', "prm",
         dict(kind="vllm_reward", model="m", seed=3, options={"max_model_len": 512})),
    ],
)
def test_parse_model_arg_forms(arg, role, expected):
    r, spec = parse_model_arg(arg)
    assert r == role
    assert {k: getattr(spec, k) for k in expected} == expected


@pytest.mark.parametrize(
    "arg, match",
    [
        ("verifier", "expects ROLE=KIND"),
        ("=openai:m", "expects ROLE=KIND"),
        ("verifier=", "expects ROLE=KIND"),
        ("verifier=gpt4:m", "(?s)Input should be 'embedded'"),
        ("verifier=openai", "model kind 'openai' needs a model name"),
        ("prm={not json", "(?s)--model-for 'prm=\\{not json'.*Expecting"),
        ('prm={"kind": "same", "colour": 1}', "(?s)colour.*Extra inputs"),
    ],
)
def test_parse_model_arg_errors(arg, match):
    with pytest.raises(ValueError, match=match):
        parse_model_arg(arg)


def test_model_for_overrides_the_spec_and_same_reuses_the_generator():
    pipe = resolve_pipeline("sc", {"n": 2})
    pipe.model_specs = {"verifier": ModelSpec(kind="openai", model="big", base_url="http://x/v1"),
                        "critic": ModelSpec(kind="same")}
    specs = model_specs(pipe, ["verifier=same"])
    assert specs["verifier"].kind == "same" and specs["critic"].kind == "same"
    gen = ScriptedLM(["x"])
    models = build_models(pipe, ["verifier=same"], gen)
    assert models["verifier"] is gen and models["critic"] is gen
    with pytest.raises(ValueError, match="needs the generator"):
        make_model(ModelSpec(kind="same"))


def test_openai_role_is_built_without_loading_anything():
    pipe = resolve_pipeline("sc", {"n": 2})
    models = build_models(pipe, ["verifier=openai:judge@http://127.0.0.1:9/v1"], ScriptedLM(["x"]))
    v = models["verifier"]
    assert v.model_id == "judge" and v.config.base_url == "http://127.0.0.1:9/v1"


def test_the_generator_role_cannot_be_overridden():
    with pytest.raises(ValueError, match="'generator' is the generator itself"):
        model_specs(resolve_pipeline("sc", {}), ["generator=openai:m"])


def test_model_for_is_repeatable_in_the_parser():
    args = build_parser().parse_args(["solve", "--input", "x", "--out", "y", "--model-for", "a=same",
                                      "--model-for", "b=embedded"])
    assert args.model_for == ["a=same", "b=embedded"]


@pytest.mark.parametrize("value, match", [("verifier=bogus", "Input should be"), ("verifier", "expects ROLE=KIND"),
                                          ("prm=vllm_reward", "needs a model name")])
def test_a_bad_model_for_exits_2_before_loading_the_backend(tmp_path, value, match):
    r = subprocess.run([sys.executable, "-m", "lemmaflow", "solve", "--input", str(EXAMPLES), "--out",
                        str(tmp_path / "o.jsonl"), "--model-for", value], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode == 2
    assert "bad --model-for" in r.stderr and match in r.stderr
    assert "loading backend" not in r.stderr  # refused before any engine started
