"""Quiet engine start-up for the CLI: vLLM/transformers/torch logs off by default, a spinner instead.

vLLM prints ~50 INFO/WARNING lines while its engine starts. The CLI (and only
the CLI: importing lemmaflow as a library changes no logging) turns them down
to errors before vLLM is imported (and the CLI's backend skips vLLM's
weight-loading progress bar), and shows a spinner while the backend loads;
``--verbose`` leaves every logger as the libraries configure it.
Environment variables the user set explicitly win over these defaults.

Example::

    from rich.console import Console
    from lemmaflow.engine_logs import loading_backend, quiet_engine_logs

    quiet_engine_logs(verbose=False)          # before anything imports vllm
    with loading_backend(Console(stderr=True), "embedded"):
        backend = make_embedded_backend()
"""

from __future__ import annotations

import logging
import os
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["QUIET_ENV", "loading_backend", "quiet_engine_logs"]

# Read by the libraries when they are imported (vLLM configures its logger at import).
QUIET_ENV = {
    "VLLM_LOGGING_LEVEL": "ERROR",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",  # silences the tokenizers fork warning
    "TORCH_CPP_LOG_LEVEL": "ERROR",  # torch's C++ warnings (NUMA binding, ...)
}
# Loggers that may already exist (a library imported earlier in this process).
_LOGGERS = ("vllm", "transformers", "torch", "urllib3", "filelock")
_LIB_MODULES = r"(vllm|torch|transformers|triton)(\.|$)"


def quiet_engine_logs(verbose: bool) -> None:
    """Turn engine logs down to errors for this CLI process, unless ``verbose``."""
    if verbose:
        return
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # Deprecation chatter the libraries raise about each other (torch APIs used by vLLM, ...).
    warnings.filterwarnings("ignore", category=FutureWarning, module=_LIB_MODULES)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=_LIB_MODULES)
    warnings.filterwarnings("ignore", category=UserWarning, module=_LIB_MODULES)


@contextmanager
def loading_backend(console, args_or_name: Any) -> Iterator[None]:
    """A "loading model ..." spinner on ``console`` while the backend starts."""
    backend = getattr(args_or_name, "backend", args_or_name)
    model = getattr(args_or_name, "model", None)
    what = f"{backend} ({model})" if model else str(backend)
    with console.status(f"loading model [bold]{what}[/bold] ...", spinner="dots"):
        yield
    console.print(f"model {what} loaded")
