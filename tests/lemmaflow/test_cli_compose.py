"""``lemmaflow compose`` through the CLI: clear errors without a model, and one tiny run on the embedded model."""

import json

import pytest
import yaml

from lemmaflow.cli import build_parser, main, resolve_pipeline

from .test_cli import EXAMPLES, ROOT, lemmaflow

TINY = ROOT / "examples" / "compose" / "tiny.yaml"


def test_compose_help_and_registration():
    r = lemmaflow("compose", "--help")
    assert r.returncode == 0
    for flag in ("--dev", "--budget-tokens", "--out", "--search", "--max-trials", "--model-for", "--backend"):
        assert flag in r.stdout
    assert "resum" in r.stdout.lower() and "best.yaml" in r.stdout
    args = build_parser().parse_args(["compose", str(TINY), "--dev", "gsm8k:2", "--budget-tokens", "9", "--out", "x"])
    assert callable(args.handler)


def test_compose_bad_inputs_are_clear_errors(tmp_path, capsys, monkeypatch):
    from lemmaflow.engine_logs import QUIET_ENV

    for k in QUIET_ENV:  # main() quiets engine logs through os.environ: undo it after this test
        monkeypatch.delenv(k, raising=False)

    def run(*args):
        code = main(["compose", *args, "--out", str(tmp_path / "o")])
        return code, capsys.readouterr().err.replace("\n", " ")

    bad = tmp_path / "space.yaml"
    bad.write_text("generator: {type: chain_of_thought}\nlayers: [{type: tora}]\n")
    code, err = run(str(bad), "--dev", str(EXAMPLES), "--budget-tokens", "100")
    assert code == 2 and "not a candidate layer" in err
    nogold = tmp_path / "dev.jsonl"
    nogold.write_text(json.dumps({"id": "a", "question": "1+1?"}) + "\n")
    code, err = run(str(TINY), "--dev", str(nogold), "--budget-tokens", "100")
    assert code == 2 and "gold answers" in err
    code, err = run(str(TINY), "--dev", str(EXAMPLES), "--budget-tokens", "100", "--model-for", "critic")
    assert code == 2 and "--model-for" in err
    code, err = run(str(TINY), "--dev", str(EXAMPLES), "--budget-tokens", "0")
    assert code == 2 and "must be positive" in err
    code, err = run(str(TINY), "--dev", "aime:3", "--budget-tokens", "10")
    assert code == 2 and "unknown dataset 'aime'" in err
    assert not (tmp_path / "o").exists()  # nothing started


@pytest.mark.embedded
def test_compose_end_to_end_on_the_embedded_model(tmp_path):
    """2 dev problems, the 4-configuration tiny space, 48 new tokens per call, a 3000-token budget."""
    out = tmp_path / "c"
    r = lemmaflow("compose", str(TINY), "--dev", str(EXAMPLES), "--limit", "2", "--budget-tokens", "3000",
                  "--max-tokens", "48", "--concurrency", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((out / "compose.json").read_text())
    trials = report["trials"]
    assert trials and report["dev_problems"] == 2 and report["model"].startswith("SmolLM2")
    # Budget: no trial started after the spend reached it; spend is the sum of what trials spent.
    assert report["spent_tokens"] == sum(t["new_tokens"] for t in trials) > 0
    spent = 0
    for t in trials:
        assert spent < 3000
        spent += t["new_tokens"]
    best = next(t for t in trials if t["number"] == report["best"])
    assert best["state"] == "complete" and best["row"]["graded"] == 2
    assert all(best["row"]["correct"] >= t["row"]["correct"] for t in trials if t["state"] == "complete")
    spec = yaml.safe_load((out / "best.yaml").read_text())
    assert spec == best["spec"]
    pipe = resolve_pipeline(str(out / "best.yaml"), {})  # what `lemmaflow solve --pipeline` loads
    assert pipe.to_spec()["nodes"][0]["type"] == spec["nodes"][0]["type"]
    assert (out / "compose.png").stat().st_size > 5000 and (out / "study.db").exists()
    assert len((out / "compose.csv").read_text().strip().splitlines()) == 1 + len(trials)
