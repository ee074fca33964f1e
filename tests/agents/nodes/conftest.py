import pytest


@pytest.fixture(scope="session")
def executor():
    from lemmaflow.sandboxes import make_executor

    with make_executor("forkserver", pool_size=1) as ex:
        yield ex
