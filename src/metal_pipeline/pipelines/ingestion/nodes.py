"""Thin Kedro nodes over ``metal_pipeline.data`` (all logic lives there)."""

from __future__ import annotations

from typing import Any

from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.data.ingest import ingest_class


def ingest(class_name: str, ingestion: dict[str, Any], seed: int) -> tuple[ImageSet, ImageSet, ImageSet]:
    """Read, check and split one class. One node on purpose: every file is read and
    checked before Kedro saves any of the three outputs, so bad data never leaves
    a half-updated set of splits behind."""
    splits = ingest_class(class_name, ingestion, seed)
    return splits.train, splits.val, splits.test
