"""What Kedro's ``ParallelRunner`` needs from this project's catalog (``kedro run --runner=ParallelRunner``).

``ParallelRunner`` runs every node in a pool process and pickles the catalog (standard pickle)
to get it there. Two things of this catalog do not survive that, and :class:`ParallelRunnerSupport`
(a ``before_pipeline_run`` hook, active only when Kedro built the catalog for ``ParallelRunner``:
a ``SharedMemoryDataCatalog``) fixes both:

* **kedro-mlflow's ``MlflowArtifactDataset``** builds a new class inside its ``__new__`` for
  every dataset, which pickle cannot find by name. Each such dataset is pickled as the call that
  builds it again from its catalog entry (``MlflowArtifactDataset(dataset=..., ...)``), so a pool
  process gets an identical dataset.
* **Declared in-memory datasets** (``metal_net``: ``MemoryDataset`` with ``copy_mode: assign``,
  which saves a copy of the network in the sequential runner) would stay in the pool process that
  saved them. They become Kedro's ``SharedMemoryDataset``, held by the runner's manager process
  for the node that loads them, as Kedro does for undeclared ones.

The MLflow side (one nested run per grid run, created before the pool forks) is in
:class:`metal_pipeline.tracking.grid_runs.GridRunsHook`. ``ParallelRunner`` starts its pool by
fork on Linux, so the pool processes have the hooks' state; with ``KEDRO_MP_CONTEXT=spawn`` they
would not, so use the default there.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

_MLFLOW_ARTIFACT_MODULE = "kedro_mlflow.io.artifacts.mlflow_artifact_dataset"


def is_mlflow_artifact(dataset: Any) -> bool:
    """An instance of one of the classes ``MlflowArtifactDataset`` builds per dataset."""
    cls = type(dataset)
    return cls.__module__ == _MLFLOW_ARTIFACT_MODULE and "." in cls.__qualname__


def rebuildable(dataset: Any, config: dict[str, Any]) -> None:
    """Let pickle rebuild ``dataset`` (a kedro-mlflow artifact dataset) from its catalog entry ``config``."""
    from kedro_mlflow.io.artifacts import MlflowArtifactDataset

    args = (config["dataset"], config.get("run_id"), config.get("artifact_path"), config.get("credentials"),
            config.get("metadata"))

    def reduce(self):
        return MlflowArtifactDataset, args

    type(dataset).__reduce__ = reduce  # the class is this dataset's own (one class per instance)


@contextmanager
def _quiet(name: str):
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


class ParallelRunnerSupport:
    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from kedro.io import MemoryDataset, SharedMemoryDataCatalog, SharedMemoryDataset

        if not isinstance(catalog, SharedMemoryDataCatalog):
            return
        produced = pipeline.all_outputs()
        shared, rebuilt = [], 0
        # every declared dataset (the runner checks them all) and the pipeline's (dataset factories)
        for name in sorted(set(catalog.keys()) | pipeline.datasets()):
            dataset = catalog.get(name, fallback_to_runtime_pattern=True)
            if name in produced and type(dataset) is MemoryDataset:
                with _quiet("kedro.io.data_catalog"):  # "Replacing dataset": the point here
                    catalog[name] = SharedMemoryDataset()
                shared.append(name)
            elif is_mlflow_artifact(dataset):
                rebuildable(dataset, catalog.config_resolver.resolve_pattern(name))
                rebuilt += 1
        logger.info("ParallelRunner: %d MLflow artifact dataset(s) made picklable; in-memory dataset(s) shared "
                    "through the runner's manager: %s", rebuilt, ", ".join(shared) or "none")
