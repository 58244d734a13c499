"""Project pipelines: one per concern, discovered by ``find_pipelines``, plus the chains users run."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    chain = [name for name in ("ingestion", "training", "heatmaps", "evaluation") if name in pipelines]
    pipelines["train_eval"] = sum((pipelines[name] for name in chain), Pipeline([]))
    pipelines["__default__"] = pipelines["train_eval"]
    return pipelines
