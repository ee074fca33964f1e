"""Running lemmaflow jobs across machines: Ray worker actors that each hold an engine (or endpoints).

:mod:`lemmaflow.agents.distributed.ray_runner` — :class:`RayWorkerPool` (the actors) and
:class:`RayBatchRunner` (a driver with :class:`~lemmaflow.agents.batch.BatchRunner`'s interface,
results file and resume rules); :mod:`.ray_prove` — :class:`RayProveJob` (``lemmaflow prove --ray``). Ray is an optional extra (``pip install 'lemmaflow[ray]'``) and is
imported only when a pool starts.
"""

from .ray_prove import RayProveJob
from .ray_runner import RayBatchRunner, RayUnavailable, RayWorker, RayWorkerPool, WorkerSetup

__all__ = ["RayBatchRunner", "RayProveJob", "RayUnavailable", "RayWorker", "RayWorkerPool", "WorkerSetup"]
