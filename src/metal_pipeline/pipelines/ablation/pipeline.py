"""One template (training -> heatmaps -> evaluation) reused per run of the grid, as in
modular-spaceflights: each configuration x seed is the namespace ``ablation.<config>.s<seed>``
(:mod:`metal_pipeline.grid`) whose ``config``, ``masking`` and ``seed`` parameters come from the
``ablation_grid`` resolver in ``parameters_ablation.yml``; everything else (class, data, model,
training, scoring) is shared. The table node gathers every run's metrics into Table 3.

Which runs exist depends on ``--params configs=...,seeds=...``, which Kedro does not hand to
``register_pipelines``; see :func:`metal_pipeline.pipeline_registry.register_pipelines` for how the
registry sees them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

from kedro.pipeline import Node, Pipeline

from metal_pipeline.grid import GridRun, make_grid
from metal_pipeline.pipelines.evaluation import create_pipeline as evaluation_pipeline
from metal_pipeline.pipelines.heatmaps import create_pipeline as heatmaps_pipeline
from metal_pipeline.pipelines.training import create_pipeline as training_pipeline

from .nodes import ablation_tables

#: Parameters every run shares (``params:<name>`` outside the namespace).
SHARED_PARAMETERS = ("class", "recipe", "model", "training", "scoring", "heatmaps", "evaluation",
                     "tracking_prefix")
SHARED_INPUTS = {"train_set", "val_set", "test_set", "split_manifest"}


def create_pipeline(runs: Iterable[GridRun] | None = None, **kwargs) -> Pipeline:
    """The grid's runs (default: the six configurations, seed 0) and the table node."""
    runs = list(runs) if runs is not None else make_grid(None, None, 0, "strict")
    template = training_pipeline() + heatmaps_pipeline() + evaluation_pipeline()
    parameters = {f"params:{p}": f"params:{p}" for p in SHARED_PARAMETERS}
    # Every run is named with the split the grid shares (ingestion.split_seed fixed, metal_pipeline.grid).
    parameters["params:ingestion"] = "params:ablation_ingestion"
    per_run = [Pipeline(template, namespace=run.namespace, inputs=SHARED_INPUTS, parameters=parameters)
               for run in runs]
    with warnings.catch_warnings():
        # Mapping onto the namespaced names ("ablation.<config>.s<seed>.metrics_table") is the
        # documented way to consume namespace outputs; Kedro still warns about the dots.
        warnings.filterwarnings("ignore", message=".*dataset names contain '.' characters.*")
        table = _table_pipeline(runs)
    return sum(per_run, Pipeline([])) + table


def _key(run: GridRun, what: str) -> str:
    return f"{run.config}__s{run.seed}__{what}"


def _table_pipeline(runs: list[GridRun]) -> Pipeline:
    local = {_key(run, what): f"{run.namespace}.{dataset}" for run in runs
             for what, dataset in (("metrics", "metrics_table"), ("summary", "training_summary"))}
    return Pipeline(
        [
            Node(
                ablation_tables,
                inputs={name: name for name in local},
                outputs=["ablation_runs", "ablation_table", "ablation_markdown", "ablation_figure"],
                name="ablation_table",
            )
        ],
        inputs=local,
    )
