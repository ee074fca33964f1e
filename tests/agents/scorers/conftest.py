"""The embedded SmolLM2 run as a stand-in PRM on vLLM's pooling runner, shared by the scorer tests."""

import pytest


@pytest.fixture(scope="session")
def embedded_prm():
    from lemmaflow.agents.backends.factory import ModelSpec, make_model

    prm = make_model(ModelSpec(kind="vllm_reward", model="embedded"))  # the CLI's prm=vllm_reward:embedded
    yield prm
    prm.close()
