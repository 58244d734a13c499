"""``ingestion``: raw class folder -> ``train_set``, ``val_set``, ``test_set`` (``ImageSet`` .npz per class)."""

from metal_pipeline.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
