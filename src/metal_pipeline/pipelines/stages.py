"""``train_eval``'s stages as Kedro namespaces, so that ``kedro viz`` draws each one as a group.

kedro-viz groups nodes by namespace only (tags are a filter there, not a group). A stage's namespace
changes no dataset or parameter name (``prefix_datasets_with_namespace=False``), so the catalog and
every ``params:`` entry stay as they are; what changes is the nodes' full names,
``<stage>.<node>``: ``kedro run --from-nodes heatmaps.score_test_set``, and ``--namespaces=heatmaps``
runs one stage (Kedro answers a bare ``score_test_set`` with "Did you mean: ['heatmaps.score_test_set']?").

The grids (ablation, baselines, ``train_eval`` with ``seeds``) build their runs from the stage
pipelines *without* these namespaces: a grid run is the one namespace ``ablation.<config>.s<seed>``
(or ``table4.<method>.s<seed>``) that the grid's MLflow hook (:mod:`metal_pipeline.tracking.grid_runs`)
and the Dask runner's task groups (:mod:`metal_pipeline.runners.groups`) key on, and its shared
ingestion stays outside any namespace.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

#: ``train_eval``'s stages in data-flow order; each is a pipeline of the registry and a tag of its nodes.
STAGES = ("ingestion", "training", "heatmaps", "evaluation")


def as_stage(name: str, pipeline: Pipeline) -> Pipeline:
    """``pipeline``'s nodes in the namespace ``name``, every dataset and parameter name unchanged."""
    if name not in STAGES:
        raise ValueError(f"Unknown stage {name!r}; the stages of train_eval are {list(STAGES)}.")
    return Pipeline(pipeline, namespace=name, prefix_datasets_with_namespace=False)
