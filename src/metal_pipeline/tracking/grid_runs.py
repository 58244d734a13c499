"""One nested MLflow run per run of a grid, and progress lines (issue 12, items 4 and 6).

The same for the Table 4-style comparison (``kedro run --pipelines=baselines``): its runs are the
namespaces ``table4.<method>.s<seed>`` (:mod:`metal_pipeline.baselines.methods`), its parent run is
named ``<class>-table4-<seeds>-<hash>``, and each child run also holds the ``method`` parameter.

kedro-mlflow starts one MLflow run per ``kedro run``: for the ablation pipeline (and for
``train_eval`` with ``seeds``, the grid of its one configuration) it is the **parent** run
(named ``<class>-<recipe>-ablation-<masking>-<seeds>-<hash>``), which gets the tables.
:class:`GridRunsHook` gives every configuration x seed of the grid (the Kedro namespace
``ablation.<config>.s<seed>``, :mod:`metal_pipeline.grid`) its own **child** run:

* created with the client API in the parent's experiment, named with the run's name
  (:func:`metal_pipeline.run_identity.run_name`, the name of its checkpoint folder) and tagged
  ``mlflow.parentRunId`` = the parent's run id, given explicitly (no reliance on which run
  happens to be active);
* holding the run's parameters (``class``, ``recipe``, ``config``, ``masking``, ``seed``,
  ``split_seed`` and the flattened ``model.*``, ``training.*`` and ``scoring.*``) and the
  ``git_commit`` tag (also on the parent);
* made the **active** run while a node of its namespace runs and while that node's outputs
  are saved, so everything the nodes and their ``MlflowArtifactDataset`` outputs log goes to
  it, unprefixed: the loss history per epoch, the metrics, the figures, ``threshold.json``,
  ``training_summary.json`` and the registered model.

How the active run is switched: kedro-mlflow's own ``before_node_run`` re-activates the parent
before every node (``mlflow.start_run(run_id=<parent>, nested=True)``); this hook's
``before_node_run`` runs after it (``trylast``) and, for a grid node, activates the child the same
way. Kedro saves a node's outputs before the next node's hooks run, so the outputs land in the
same run as the node. At the end (``after_pipeline_run``, ``tryfirst``, before kedro-mlflow ends
the parent) every child is ended FINISHED and the parent is left active for kedro-mlflow to end.
If the command fails, the child whose node failed is FAILED, children that had finished all
their nodes are FINISHED, and children left half-done are KILLED with a ``metal.stopped`` tag.

**Nodes in other processes.** Kedro's ``ParallelRunner`` runs each node in a forked pool process and
the ``DaskRunner`` (:mod:`metal_pipeline.runners`) each run of the grid on a worker; there, this
hook's node hooks act on a copy of it (forked, or :meth:`GridRunsHook.worker_copy` shipped to the
Dask workers). So that every copy activates the same child of a namespace, the driver creates all
children up front (in ``before_pipeline_run`` for ``ParallelRunner``, whose catalog is then a
``SharedMemoryDataCatalog``; in ``worker_copy`` for Dask). A copy ends its child FINISHED once it has
run all the namespace's nodes (a Dask worker always does) and FAILED when one of them fails; the
driver ends the rest FINISHED at the end. If the command fails, children still RUNNING are KILLED
(under ``ParallelRunner`` that includes runs whose nodes finished in different pool processes, which
no process can tell). Progress lines come from the driver's runner there, not from the copies.

Progress: before each training of the grid, one log line names the run, ``run k/N`` and an ETA
from the mean wall time of the trainings finished so far (reused runs, which train nothing,
are not counted); after it, one line with its wall time.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

PARENT_TAG = "mlflow.parentRunId"
NAMESPACE_TAG = "metal.namespace"
STOPPED_TAG = "metal.stopped"
#: Parameter sections logged (flattened) to each child run besides the run selectors.
LOGGED_SECTIONS = ("model", "training", "scoring")
_MAX_PARAM_LENGTH = 6000
_BATCH = 100


#: Nodes that train (MeTAL; an autoencoder baseline of the Table 4-style comparison).
TRAINING_NODES = ("train_model", "train_conv_ae")


def _is_training(node) -> bool:
    return node.name.rsplit(".", 1)[-1] in TRAINING_NODES


# -- the two kinds of grid run: the ablation's (grid.GridRun) and the comparison's (methods.MethodRun) ----
def _is_method(run) -> bool:
    from metal_pipeline.baselines.methods import MethodRun

    return isinstance(run, MethodRun)


def _all_runs(params: Mapping[str, Any]) -> list:
    """Every run a command's parameters define: the ablation's grid, train_eval's with seeds (its config)
    and the comparison's; the pipeline's namespaces pick its own."""
    from metal_pipeline import grid
    from metal_pipeline.baselines import methods

    return list(dict.fromkeys(grid.grid_runs(params) + grid.seed_grid(params))) + methods.method_runs(params)


def _group(run) -> str:
    """The row a run belongs to: its configuration (ablation) or its method (comparison)."""
    return run.method if _is_method(run) else run.config


def _run_name(params: Mapping[str, Any], run) -> str:
    from metal_pipeline import grid
    from metal_pipeline.baselines import methods

    return methods.run_name(params, run) if _is_method(run) else grid.run_name(params, run)


def _own_params(params: Mapping[str, Any], run) -> dict[str, Any]:
    """The run's own parameters: what its namespace trains and scores with."""
    from metal_pipeline import grid
    from metal_pipeline.baselines import methods

    if _is_method(run):
        return methods.method_params(params, run)
    return {**grid.run_params(params, run), "config": run.config, "masking": run.masking}


def _forks_pool(catalog) -> bool:
    """Kedro builds a ``SharedMemoryDataCatalog`` exactly when the runner is a ``ParallelRunner``."""
    from kedro.io import SharedMemoryDataCatalog

    return isinstance(catalog, SharedMemoryDataCatalog)


def _flatten(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}")
    else:
        yield prefix, value


def duration(seconds: float) -> str:
    """``45 s``, ``3.2 min``, ``1.5 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class GridRunsHook:
    def __init__(self) -> None:
        self._context = None
        self._on_worker = False  # a copy made by worker_copy() for a Dask worker
        self._pid: int | None = None  # the driver's process (a ParallelRunner pool process is another)
        self._reset()

    def _reset(self) -> None:
        self._runs: dict[str, Any] = {}          # namespace -> GridRun, grid order
        self._names: dict[str, str] = {}         # namespace -> run name
        self._params: dict[str, Any] = {}
        self._remaining: dict[str, int] = {}     # namespace -> nodes not run yet
        self._children: dict[str, str] = {}      # namespace -> MLflow run id
        self._parent: str | None = None
        self._experiment: str | None = None
        self._commit = "unknown"
        self._trainings: list[str] = []          # namespaces with a training node, grid order
        self._started: dict[str, float] = {}
        self._trained_seconds: list[float] = []  # wall time of trainings that trained
        self._current: str | None = None
        self._elsewhere = False                  # nodes run in other processes (ParallelRunner, Dask)

    # -- the grid of this command ----------------------------------------------------
    @hook_impl
    def after_context_created(self, context) -> None:
        self._context = context

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        """After kedro-mlflow started the parent run: find the grid's runs in this pipeline."""
        self._reset()
        if self._context is None:
            return
        params = dict(self._context.params)
        try:  # the ablation's grid, train_eval's with seeds or the comparison's: whichever this pipeline has
            runs = _all_runs(params)
        except ValueError:
            return
        counts = Counter(node.namespace for node in pipeline.nodes)
        present = [run for run in runs if counts.get(run.namespace)]
        if not present:
            return
        self._params = params
        self._runs = {run.namespace: run for run in present}
        self._names = {run.namespace: _run_name(params, run) for run in present}
        self._remaining = {ns: counts[ns] for ns in self._runs}
        training = {node.namespace for node in pipeline.nodes if _is_training(node)}
        self._trainings = [ns for ns in self._runs if ns in training]
        from metal_pipeline.tracking.git_info import git_commit

        self._commit = git_commit()
        self._start_parent()
        self._pid = os.getpid()
        if _forks_pool(catalog) and self._parent is not None:  # ParallelRunner: see the module docstring
            self._elsewhere = True
            for namespace in self._runs:
                self._child(namespace)
        seeds = sorted({run.seed for run in present})
        groups = list(dict.fromkeys(_group(run) for run in present))
        kind = "method" if all(_is_method(run) for run in present) else "configuration"
        logger.info("Grid of %d runs: %d %s(s) (%s) x %d seed(s) (%s)%s.", len(present), len(groups), kind,
                    ", ".join(groups), len(seeds), ", ".join(map(str, seeds)),
                    f", each a nested MLflow run under {self._parent}" if self._parent else "")

    def _start_parent(self) -> None:
        import mlflow

        active = mlflow.active_run()
        if active is None:  # tracking disabled for this pipeline
            return
        self._parent = active.info.run_id
        self._experiment = active.info.experiment_id
        tags = {"git_commit": self._commit, "metal.grid.runs": str(len(self._runs))}
        if self._commit != "unknown":
            tags["mlflow.source.git.commit"] = self._commit.removesuffix("-dirty")
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
        for key, value in tags.items():
            client.set_tag(self._parent, key, value)

    # -- copies in other processes (ParallelRunner, Dask) --------------------------------------
    def worker_copy(self) -> GridRunsHook | None:
        """This hook for the Dask workers (:mod:`metal_pipeline.runners.worker_hooks`): the grid, the parent
        run and every child, created here so that the driver knows them all; no Kedro context."""
        if not self._runs:
            return None
        self._elsewhere = True
        if self._parent is not None:
            for namespace in self._runs:
                self._child(namespace)
        copy = GridRunsHook()
        copy._on_worker, copy._pid = True, self._pid
        copy._runs, copy._names, copy._params = dict(self._runs), dict(self._names), dict(self._params)
        copy._remaining, copy._children = dict(self._remaining), dict(self._children)
        copy._parent, copy._experiment, copy._commit = self._parent, self._experiment, self._commit
        copy._trainings, copy._elsewhere = list(self._trainings), True
        return copy

    def _in_copy(self) -> bool:
        """Whether these node hooks run in a copy: on a Dask worker or in a ParallelRunner pool process."""
        return self._on_worker or (self._pid is not None and os.getpid() != self._pid)

    def _end_child(self, namespace: str, status: str) -> None:
        from mlflow.tracking import MlflowClient

        child = self._children.get(namespace)
        if child is not None:
            MlflowClient().set_terminated(child, status)

    # -- child runs --------------------------------------------------------------------
    def _child(self, namespace: str) -> str:
        child = self._children.get(namespace)
        if child is not None:
            return child
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        run = self._runs[namespace]
        name = self._names[namespace]
        tags = {PARENT_TAG: self._parent, NAMESPACE_TAG: namespace, "git_commit": self._commit}
        if self._commit != "unknown":
            tags["mlflow.source.git.commit"] = self._commit.removesuffix("-dirty")
        client = MlflowClient()
        child = client.create_run(self._experiment, run_name=name, tags=tags).info.run_id
        params = _own_params(self._params, run)
        logged: dict[str, Any] = {"class": params.get("class"), "recipe": params.get("recipe"),
                                  "config": params["config"], "masking": params["masking"], "seed": run.seed,
                                  "split_seed": params["ingestion"].get("split_seed"), "run_name": name}
        if _is_method(run):
            logged["method"] = run.method
        for section in LOGGED_SECTIONS:
            logged.update(_flatten(params.get(section), section))
        batch = [Param(key, str(value)[:_MAX_PARAM_LENGTH]) for key, value in logged.items()]
        for lo in range(0, len(batch), _BATCH):
            client.log_batch(child, params=batch[lo:lo + _BATCH])
        self._children[namespace] = child
        return child

    @hook_impl(trylast=True)
    def before_node_run(self, node, catalog, inputs, is_async) -> None:
        namespace = node.namespace
        if namespace not in self._runs:
            return
        self._current = namespace
        if _is_training(node) and not self._in_copy():
            self._progress_start(namespace)
        if self._parent is not None:
            import mlflow

            mlflow.start_run(run_id=self._child(namespace), nested=True)

    @hook_impl
    def after_node_run(self, node, catalog, inputs, outputs, is_async) -> None:
        namespace = node.namespace
        if namespace not in self._runs:
            return
        self._remaining[namespace] -= 1
        if self._in_copy():
            if self._remaining[namespace] <= 0:  # all the namespace's nodes ran in this process
                self._end_child(namespace, "FINISHED")
            return
        if _is_training(node):
            summary = next((v for k, v in outputs.items() if k.endswith(".training_summary")), None) or {}
            self._progress_end(namespace, bool(summary.get("reused")))

    @hook_impl
    def on_node_error(self, error, node, catalog, inputs, is_async) -> None:
        """In a copy, the failing node's child is FAILED (the driver's on_pipeline_error does not see it)."""
        if node.namespace in self._runs and self._in_copy():
            self._end_child(node.namespace, "FAILED")

    @hook_impl(tryfirst=True)
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        """End every child FINISHED and leave the parent active for kedro-mlflow to end."""
        if self._parent is None:
            return
        import mlflow
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
        for child in self._children.values():
            # a copy in another process may have ended it already (keep its end time)
            if not self._elsewhere or client.get_run(child).info.status == "RUNNING":
                client.set_terminated(child, "FINISHED")
        while (active := mlflow.active_run()) is not None and active.info.run_id != self._parent:
            mlflow.end_run()
        logger.info("MLflow: parent run %s with %d nested run(s), one per configuration x seed.", self._parent,
                    len(self._children))

    @hook_impl(trylast=True)
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        """After kedro-mlflow ended every active run FAILED: children that finished all their nodes are
        FINISHED, the one whose node failed stays FAILED, the others are KILLED (stopped half-way)."""
        if self._parent is None or not self._children:
            return
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
        for namespace, child in self._children.items():
            try:
                if self._elsewhere:  # the copies ended theirs; what still runs is stopped with the command
                    if client.get_run(child).info.status == "RUNNING":
                        client.set_terminated(child, "KILLED")
                        client.set_tag(child, STOPPED_TAG, "the command stopped: a node failed")
                elif self._remaining.get(namespace, 0) <= 0:
                    client.set_terminated(child, "FINISHED")
                elif namespace != self._current:
                    client.set_terminated(child, "KILLED")
                    client.set_tag(child, STOPPED_TAG, f"the command stopped: a node of {self._current} failed")
                else:
                    client.set_terminated(child, "FAILED")
            except Exception:  # noqa: BLE001 - the pipeline's own error is what the user must see
                logger.debug("Could not set the status of MLflow run %s", child, exc_info=True)

    # -- progress ----------------------------------------------------------------------
    def _progress_start(self, namespace: str) -> None:
        run = self._runs[namespace]
        total = len(self._trainings)
        k = len(self._started) + 1
        self._started[namespace] = time.monotonic()
        left = total - k + 1  # this one included
        if self._trained_seconds:
            mean = sum(self._trained_seconds) / len(self._trained_seconds)
            eta = (f"ETA {duration(mean * left)} for this and {left - 1} more training(s) "
                   f"(mean {duration(mean)} a training so far)")
        else:
            eta = "ETA once a training has finished (reused runs train nothing)"
        what = (f"method {run.method}" if _is_method(run) else f"configuration {run.config}, masking {run.masking}")
        logger.info("Grid run %d/%d: %s (%s, seed %d); %s.", k, total, self._names[namespace], what, run.seed, eta)

    def _progress_end(self, namespace: str, reused: bool) -> None:
        seconds = time.monotonic() - self._started.get(namespace, time.monotonic())
        if not reused:
            self._trained_seconds.append(seconds)
        k = list(self._started).index(namespace) + 1 if namespace in self._started else 0
        logger.info("Grid run %d/%d done in %s%s: %s.", k, len(self._trainings), duration(seconds),
                    " (reused, nothing trained)" if reused else "", self._names[namespace])
