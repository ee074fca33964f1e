"""Build a custom pipeline graph: a node of your own wired after self-consistency.

    .venv/bin/python examples/custom_pipeline.py            # real embedded model
    .venv/bin/python examples/custom_pipeline.py --scripted  # scripted fake model (wiring demo only)

`Hedge` is a user-defined node: it keeps the voted answer only when the vote is
confident enough, otherwise it abstains. The graph validates the wiring (field
names and types) before anything runs.
"""

import argparse
import asyncio

from pydantic import BaseModel, Field

import lemmaflow as lf


class Hedge(lf.Node):
    kind = "hedge"

    class Config(lf.NodeConfig):
        min_confidence: float = Field(0.5, ge=0, le=1)

    class Inputs(BaseModel):
        answer: str | None
        confidence: float

    class Outputs(BaseModel):
        answer: str | None
        abstained: bool

    async def run(self, inputs, ctx):
        keep = inputs.answer is not None and inputs.confidence >= self.config.min_confidence
        return self.Outputs(answer=inputs.answer if keep else None, abstained=not keep)


def build() -> lf.Pipeline:
    pipe = lf.Pipeline(inputs={"question": str}, name="sc_hedged")
    pipe.add("sc", lf.SelfConsistency(n=4, max_tokens=128))
    pipe.add("hedge", Hedge(min_confidence=0.5))
    pipe.connect("input.question", "sc.question")
    pipe.connect("sc.answer", "hedge.answer").connect("sc.confidence", "hedge.confidence")
    pipe.set_output("hedge")
    pipe.validate()
    return pipe


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scripted", action="store_true", help="use a scripted fake model (not a result)")
    args = ap.parse_args()
    pipe = build()
    print("spec:", pipe.to_spec())
    if args.scripted:
        backend = lf.ScriptedLM(["... \\boxed{42}", "... \\boxed{42}", "... \\boxed{41}", "... \\boxed{42}"])
    else:
        backend = lf.make_embedded_backend()
    with lf.AnswerChecker() as checker:
        ctx = lf.RunContext(backend=backend, checker=checker)
        result = asyncio.run(pipe.run({"question": "What is 6 times 7?"}, ctx))
    print(result.status, result.outputs, "sc confidence:", result.node_outputs["sc"]["confidence"])
    print("usage:", ctx.ledger.snapshot()["total"])
    close = getattr(backend, "close", None)
    if close:
        close()


if __name__ == "__main__":
    main()
