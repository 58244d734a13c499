"""``DaskRunner``: Kedro nodes on a Dask cluster, following Kedro's "Distributed deployment with Dask".

    kedro run --runner=metal_pipeline.runners.DaskRunner --pipelines=ablation --params class=bottle,seeds=3

Where it runs: the scheduler at ``DASK_SCHEDULER_ADDRESS`` (or ``--runner-params address=...``)
when set, else a ``LocalCluster`` this runner starts and stops: ``n_workers`` processes (default
2) with ``threads_per_worker`` task slots each (default 1).

As in Kedro's guide, every task is submitted with the futures of the tasks it depends on, so Dask
starts it when they are done, and the driver reports completions as they come. Differences, and
why:

* **Tasks are groups of nodes** (:mod:`.groups`): one run of a grid (training, heatmaps and
  evaluation of one configuration x seed) is one task, and nodes that pass data in memory stay
  together. Independent trainings are independent tasks and run in parallel on the workers.
* **Hooks:** the guide builds fresh project hooks on each worker; those would not know the MLflow
  run kedro-mlflow started in the driver, nor the grid. The driver ships copies of its hooks with
  their state instead (:mod:`.worker_hooks`): each grid run logs to its own nested MLflow run,
  created under the parent's **explicit run id**.
* **Threads:** each worker process sets torch's thread count once (:class:`.worker.ProjectSetup`):
  ``torch_threads`` (``--runner-params torch_threads=N``), else for a LocalCluster the machine's
  cores divided by ``n_workers``; a worker's own ``METAL_TORCH_THREADS`` wins over both.
  ``training.num_threads``, when set, applies to every training, as with any runner.
* **Failure:** the first failing task stops the command, as with Kedro's ``ParallelRunner``: tasks
  not started are cancelled, tasks already running finish first (a LocalCluster closes only then;
  on a remote cluster they finish on their own), and what they wrote is reused by the next run.
* **SIGINT/SIGTERM** stop a run as they stop a training under the sequential runner: the driver
  cancels the tasks not started and asks every worker to stop its trainings at the end of their
  epoch with ``last.pt`` written, waits for them (at most :data:`STOP_TIMEOUT_S`), then raises
  :class:`DaskRunStopped`; the same command resumes. A worker that gets the signal itself (the
  whole process group was signalled) does the same on its own (:class:`.worker.ProjectSetup`). A
  second signal stops at once.

MLflow with several worker processes: on one machine, SQLite (the default ``mlflow.db``) works;
MLflow sets a 20 s busy timeout, so a writer waits for the lock instead of failing. Workers on
several machines need an MLflow server (docs/SCALING.md): SQLite's file locking is not reliable on
network file systems.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from contextlib import contextmanager, suppress
from typing import Any

from kedro.runner import AbstractRunner

from metal_pipeline.errors import MetalError

from .groups import TaskGroup, task_groups
from .worker_hooks import worker_hooks

logger = logging.getLogger(__name__)

ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"
#: How long a stopped run waits for the workers' trainings to finish their epoch and write last.pt.
STOP_TIMEOUT_S = 300.0


class DaskRunStopped(MetalError, RuntimeError):
    """SIGINT/SIGTERM stopped a Dask run after its trainings wrote ``last.pt``."""

    def __init__(self, signal_name: str, still_training: int) -> None:
        self.signal_name = signal_name
        left = (f" {still_training} training(s) had not stopped after {STOP_TIMEOUT_S:.0f} s and lose the epochs "
                "since their last periodic last.pt." if still_training else "")
        super().__init__(f"Dask run stopped by {signal_name}: the running trainings finished their epoch and saved "
                         f"last.pt; tasks not started were cancelled.{left} Run the same command again to resume.")


class _DriverStop(BaseException):
    """Raised by the driver's signal handler into its wait for the tasks."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


@contextmanager
def _stop_on_signals():
    """While the driver waits for its tasks (main thread only): the first SIGINT/SIGTERM raises
    :class:`_DriverStop` there, and the handlers before it are back in place for a second one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from metal_pipeline.training.runtime import SignalHandlers

    def handle(signum: int, _frame: Any) -> None:
        handlers.restore()
        raise _DriverStop(signal.Signals(signum).name)

    handlers = SignalHandlers(handle).install()
    try:
        yield
    finally:
        handlers.restore()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _is_ephemeral(catalog, name: str) -> bool:
    dataset = catalog.get(name) if name in catalog else None
    return dataset is None or bool(getattr(dataset, "_EPHEMERAL", False))


def _duration(seconds: float) -> str:
    from metal_pipeline.tracking.grid_runs import duration

    return duration(seconds)


class DaskRunner(AbstractRunner):
    """Run a pipeline's task groups on a Dask cluster (see the module docstring)."""

    def __init__(self, is_async: bool = False, address: str | None = None, n_workers: int = 2,
                 threads_per_worker: int = 1, torch_threads: int | None = None) -> None:
        super().__init__(is_async=is_async)
        self._address = address
        self._n_workers = int(n_workers)
        self._threads_per_worker = int(threads_per_worker)
        self._torch_threads = int(torch_threads) if torch_threads not in (None, "", "null") else None
        if self._n_workers < 1 or self._threads_per_worker < 1:
            raise ValueError("DaskRunner: n_workers and threads_per_worker must be >= 1")

    def _get_executor(self, max_workers: int):
        return None  # Dask schedules; AbstractRunner's executor loop is not used

    # -- the cluster --------------------------------------------------------------------
    @contextmanager
    def _client(self):
        from distributed import Client, LocalCluster

        address = os.environ.get(ADDRESS_ENV) or self._address
        if address:
            client = Client(address)
            logger.info("Dask: scheduler %s, %d worker(s)", address, len(client.scheduler_info()["workers"]))
            try:
                yield client, None
            finally:
                client.close()
            return
        threads = self._torch_threads or max(1, _cores() // self._n_workers)
        # The nanny sets these before the worker process starts (torch reads OMP_NUM_THREADS at import).
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        cluster = LocalCluster(n_workers=self._n_workers, threads_per_worker=self._threads_per_worker,
                               processes=True, dashboard_address=None, env=env)
        client = Client(cluster)
        logger.info("Dask: LocalCluster of %d worker process(es), %d task slot(s) and %d torch thread(s) each",
                    self._n_workers, self._threads_per_worker, threads)
        try:
            yield client, threads
        finally:
            client.close()
            cluster.close()

    # -- the run ------------------------------------------------------------------------
    def _run(self, pipeline, catalog, hook_manager=None, run_id: str | None = None) -> None:
        from distributed import as_completed
        from kedro.framework.project import LOGGING, PACKAGE_NAME

        from .worker import ProjectSetup, run_group

        groups = task_groups(pipeline, lambda name: _is_ephemeral(catalog, name))
        hooks = worker_hooks(hook_manager)
        runs = [g for g in groups if g.namespace]
        with self._client() as (client, threads):
            client.register_plugin(ProjectSetup(os.getcwd(), PACKAGE_NAME or "metal_pipeline",
                                                dict(LOGGING) if LOGGING else None, threads))
            workers = max(1, len(client.scheduler_info()["workers"]) * self._threads_per_worker)
            logger.info("Dask: %d task(s) (%d grid run(s)) of %d node(s)", len(groups), len(runs),
                        len(pipeline.nodes))
            start = time.time()
            futures: dict[str, Any] = {}
            for group in groups:
                upstream = [futures[name] for name in group.depends_on]
                futures[group.name] = client.submit(run_group, group.name, group.nodes, catalog, hooks,
                                                    self._is_async, run_id, *upstream,
                                                    key=f"{group.name}-{run_id or start}", pure=False)
            by_name = {g.name: g for g in groups}
            done: list[dict[str, Any]] = []
            try:
                with _stop_on_signals():
                    for _, result in as_completed(list(futures.values()), with_results=True):
                        done.append(result)
                        self._report(result, by_name, done, len(groups), len(runs), workers, start)
            except _DriverStop as stop:
                raise DaskRunStopped(stop.signal_name, self._stop(client, futures, stop.signal_name)) from None
            except BaseException as error:
                pending = [f for f in futures.values() if not f.done()]
                logger.error("Dask: a task failed (%s: %s); %d task(s) not done are cancelled, those already "
                             "running finish first.", type(error).__name__, error, len(pending))
                client.cancel(pending)
                raise

    @staticmethod
    def _stop(client, futures: dict[str, Any], signal_name: str) -> int:
        """Cancel what has not started, ask the workers to stop their trainings, and wait until none is
        training (or :data:`STOP_TIMEOUT_S`); the number still training then."""
        from metal_pipeline.training.runtime import request_trainings_stop

        logger.warning("Dask: %s received: tasks not started are cancelled and the workers' trainings stop at the "
                       "end of their epoch with last.pt written (send %s again to stop at once)",
                       signal_name, signal_name)
        client.cancel([f for f in futures.values() if not f.done()])  # running ones go on in their threads
        deadline, training = time.monotonic() + STOP_TIMEOUT_S, 0
        while time.monotonic() < deadline:
            try:
                replies = client.run(request_trainings_stop, signal_name, on_error="return")
            except Exception:  # noqa: BLE001 - workers ending (they got the signal too) or gone
                replies = {}
            training = sum(n for n in replies.values() if isinstance(n, int))  # a failed reply: a worker ending
            if not training:
                return 0
            time.sleep(0.5)
        return training

    def _report(self, result: dict[str, Any], groups: dict[str, TaskGroup], done: list[dict[str, Any]],
                total: int, total_runs: int, workers: int, start: float) -> None:
        group = groups[result["group"]]
        line = (f"Dask task {len(done)}/{total} done: {group.name} ({result['nodes']} node(s)) on worker "
                f"{result['worker']} in {_duration(result['seconds'])} (started +{result['started'] - start:.1f} s)")
        if group.namespace:
            finished = [r for r in done if groups[r["group"]].namespace]
            left = total_runs - len(finished)
            mean = sum(r["seconds"] for r in finished) / len(finished)
            # the runs left go through the slots in ceil(left / slots) waves of about one mean run each
            line += (f"; grid run {len(finished)}/{total_runs}"
                     + (f", ETA {_duration(mean * math.ceil(left / workers))} for {left} more on {workers} "
                        "slot(s)" if left else ""))
        logger.info(line)
