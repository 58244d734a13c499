"""Project pipelines: one package per concern, plus the chains users run.

An explicit registry rather than ``find_pipelines``: Kedro 1.7's discovery
loads only the pipeline folders named on the command line, and ``train_eval``
is a chain of four of them, not a folder.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from metal_pipeline.pipelines import ablation, evaluation, heatmaps, ingestion, predict, training


def register_pipelines() -> dict[str, Pipeline]:
    """``train_eval`` = ingestion -> training -> heatmaps -> evaluation (the main command).

    ``ablation`` brings its own ingestion; ``predict`` needs only a trained
    model and a folder of images.
    """
    pipelines = {
        "ingestion": ingestion.create_pipeline(),
        "training": training.create_pipeline(),
        "heatmaps": heatmaps.create_pipeline(),
        "evaluation": evaluation.create_pipeline(),
    }
    pipelines["train_eval"] = sum(pipelines.values(), Pipeline([]))
    pipelines["ablation"] = pipelines["ingestion"] + ablation.create_pipeline()
    pipelines["predict"] = predict.create_pipeline()
    pipelines["__default__"] = pipelines["train_eval"]
    return pipelines
