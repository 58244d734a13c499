"""The ``ingestion`` pipeline: ``raw_class_folder`` (``params:class``) -> ``train_set``, ``val_set``, ``test_set``, ``split_manifest``."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from metal_pipeline.pipelines.ingestion.nodes import ingest


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=ingest,
                inputs=["raw_class_folder", "params:class", "params:ingestion", "params:seed"],
                outputs=["train_set", "val_set", "test_set", "split_manifest"],
                name="ingest_class",
            )
        ],
        tags="ingestion",  # kedro viz's Tags filter (its group: stages.py); kedro run --tags=ingestion
    )
