"""What a Dask worker does for :class:`metal_pipeline.runners.DaskRunner`.

:class:`ProjectSetup` (a worker plugin, once per worker process): work in the project folder (the
catalog's paths are relative to it), configure the Kedro project and its logging as Kedro's
``ParallelRunner`` does in a spawned process, give torch its thread count, so that workers
sharing a machine do not each start one thread per core, and make SIGINT/SIGTERM stop the worker's
trainings at the end of their epoch with ``last.pt`` written, as in the main thread.

:func:`run_group` (one task): run a group of nodes (:mod:`.groups`) in order as Kedro's
``SequentialRunner`` does (one Kedro ``Task`` per node), with the driver's hooks
(:mod:`.worker_hooks`), in a fresh thread: MLflow's active run is per thread, so every group
starts with none and leaves none behind for the next task on that worker.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
import time
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin, get_worker

logger = logging.getLogger(__name__)

#: Worker environment variable: torch threads per worker process (wins over the runner's value).
THREADS_ENV = "METAL_TORCH_THREADS"


def torch_threads(default: int | None) -> int | None:
    """The worker's torch thread count: ``METAL_TORCH_THREADS`` if set, else ``default``."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{THREADS_ENV}={value!r} must be an integer >= 1 (torch threads per worker)")
        return int(value)
    return default


class ProjectSetup(WorkerPlugin):
    """Prepare a worker process for this project's nodes (see the module docstring)."""

    name = "metal-pipeline-setup"

    def __init__(self, project_path: str, package_name: str, logging_config: dict[str, Any] | None,
                 threads: int | None) -> None:
        self.project_path = project_path
        self.package_name = package_name
        self.logging_config = logging_config
        self.threads = threads

    def setup(self, worker) -> None:
        folder = Path(self.project_path)
        if Path.cwd() != folder:
            if not folder.is_dir():
                raise RuntimeError(
                    f"Dask worker {worker.address} has no project folder {folder}: the catalog's paths "
                    "(data/, conf/) are relative to it. Mount the project at the same path on every worker "
                    "machine (shared storage, docs/SCALING.md).")
            os.chdir(folder)
        from kedro.framework.project import configure_logging, configure_project

        configure_project(self.package_name)
        if self.logging_config:
            configure_logging(self.logging_config)
        threads = torch_threads(self.threads)
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        if threading.current_thread() is threading.main_thread():
            # Tasks run in other threads, where a training cannot catch SIGTERM itself: without this a
            # stopped worker loses every epoch since its trainings' last periodic last.pt.
            from metal_pipeline.training.runtime import stop_trainings_on_signals

            stop_trainings_on_signals()
        logger.info("Dask worker %s: project %s, torch threads %s", worker.address, folder,
                    threads if threads is not None else "torch's default")


def _portable(error: BaseException) -> BaseException:
    """``error`` if it survives pickling to the driver, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any pickling problem
        return RuntimeError(f"{type(error).__name__}: {error}")


def run_group(group_name: str, nodes: tuple, catalog, hooks: list[Any], is_async: bool, run_id: str | None,
              *upstream: Any) -> dict[str, Any]:
    """Run ``nodes`` in order on this worker (``upstream``: the results of the groups it waits for).

    Returns where and when it ran, for the runner's progress lines.
    """
    from kedro.framework.hooks.manager import _create_hook_manager
    from kedro.runner.task import Task

    address = get_worker().address
    outcome: dict[str, Any] = {}

    def work() -> None:
        hook_manager = _create_hook_manager()
        for hook in hooks:
            hook_manager.register(hook)
        try:  # what SequentialRunner does for each node (the driver checked the inputs and logs progress)
            for node in nodes:
                Task(node=node, catalog=catalog, is_async=is_async, hook_manager=hook_manager,
                     run_id=run_id).execute()
        except BaseException as error:  # noqa: BLE001 - handed to the driver below
            outcome["error"] = error

    started = time.time()
    thread = threading.Thread(target=work, name=f"metal-{group_name}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise _portable(outcome["error"])
    return {"group": group_name, "worker": address, "started": started, "seconds": time.time() - started,
            "nodes": len(nodes)}
