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

from collections.abc import Iterable

from kedro.pipeline import Pipeline

from metal_pipeline.grid import GridRun, make_grid
from metal_pipeline.pipelines.evaluation import create_pipeline as evaluation_pipeline
from metal_pipeline.pipelines.grid_pipeline import namespaced_runs, table_node
from metal_pipeline.pipelines.heatmaps import create_pipeline as heatmaps_pipeline
from metal_pipeline.pipelines.training import create_pipeline as training_pipeline

from .nodes import ablation_tables

#: Parameters every run shares (``params:<name>`` outside the namespace).
SHARED_PARAMETERS = ("class", "recipe", "model", "training", "scoring", "heatmaps", "evaluation",
                     "tracking_prefix")


def create_pipeline(runs: Iterable[GridRun] | None = None, **kwargs) -> Pipeline:
    """The grid's runs (default: the six configurations, seed 0) and the table node."""
    runs = list(runs) if runs is not None else make_grid(None, None, 0, "strict")
    template = training_pipeline() + heatmaps_pipeline() + evaluation_pipeline()
    table = table_node(runs, lambda run: run.config, ablation_tables, name="ablation_table",
                       outputs=["ablation_runs", "ablation_table", "ablation_markdown", "ablation_figure"])
    return namespaced_runs(runs, lambda run: template, SHARED_PARAMETERS) + table
