"""lemmaflow: composable reasoning graphs for math and theorem proving over local vLLM.

The public API in one place. Example (a scripted model stands in for a real one)::

    import asyncio
    import lemmaflow as lf

    pipe = lf.Pipeline(inputs={"question": str})
    pipe.add("sc", lf.SelfConsistency(n=4)).connect("input.question", "sc.question")
    with lf.AnswerChecker() as checker:
        ctx = lf.RunContext(backend=lf.ScriptedLM(["so \\\\boxed{4}"]), checker=checker)
        result = asyncio.run(pipe.run({"question": "2+2?"}, ctx))
    print(result.outputs["answer"], result.outputs["confidence"])  # 4 1.0
"""

from lemmaflow.agents import (
    Budget,
    BudgetExceeded,
    BudgetLedger,
    Node,
    NodeConfig,
    NodeRegistry,
    Pipeline,
    PipelineError,
    PipelineResult,
    RunContext,
    SpecError,
    Trace,
    build_pipeline,
    default_registry,
    load_pipeline,
)
from lemmaflow.agents.backends import (
    BackendError,
    BackendUnavailable,
    ChatPrompt,
    LLMBackend,
    OpenAIBackend,
    OpenAIConfig,
    SamplingParams,
    ScriptedLM,
    VLLMBackend,
    VLLMConfig,
    make_embedded_backend,
)
from lemmaflow.agents.batch import BatchRunner, BatchSummary, ProblemResult
from lemmaflow.agents.nodes import ChainOfThought, SelfConsistency
from lemmaflow.tools.answers import AnswerChecker, extract_answer, majority_vote
from lemmaflow.tools.datasets import (
    Problem, grade, load_dataset, load_gsm8k, load_math500, load_problems_jsonl, read_problems,
)

__version__ = "0.1.0"

__all__ = [
    "AnswerChecker",
    "BackendError",
    "BackendUnavailable",
    "BatchRunner",
    "BatchSummary",
    "Budget",
    "BudgetExceeded",
    "BudgetLedger",
    "ChainOfThought",
    "ChatPrompt",
    "LLMBackend",
    "Node",
    "NodeConfig",
    "NodeRegistry",
    "OpenAIBackend",
    "OpenAIConfig",
    "Pipeline",
    "PipelineError",
    "PipelineResult",
    "Problem",
    "ProblemResult",
    "RunContext",
    "SamplingParams",
    "ScriptedLM",
    "SelfConsistency",
    "SpecError",
    "Trace",
    "VLLMBackend",
    "VLLMConfig",
    "build_pipeline",
    "default_registry",
    "extract_answer",
    "grade",
    "load_dataset",
    "load_gsm8k",
    "load_math500",
    "load_pipeline",
    "load_problems_jsonl",
    "read_problems",
    "majority_vote",
    "make_embedded_backend",
    "__version__",
]
