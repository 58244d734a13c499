"""Thin Kedro nodes over ``metal_pipeline.data`` (all logic lives there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.data.ingest import ingest_class
from metal_pipeline.run_identity import split_manifest


def ingest(class_folder: Path, class_name: str, ingestion: dict[str, Any],
           seed: int) -> tuple[ImageSet, ImageSet, ImageSet, dict]:
    """Read, check and split one class from its raw folder (the catalog's ``raw_class_folder``).
    One node on purpose: every file is read and checked before Kedro saves any of the outputs, so bad
    data never leaves a half-updated set of splits behind. The fourth output, ``split_manifest``,
    names the split and records a digest of each set (see ``run_identity``)."""
    split_seed = seed if ingestion.get("split_seed") is None else int(ingestion["split_seed"])
    splits = ingest_class(class_name, ingestion, split_seed, folder=class_folder)
    manifest = split_manifest({"class": class_name, "ingestion": ingestion, "seed": seed},
                              splits.train, splits.val, splits.test)
    return splits.train, splits.val, splits.test, manifest
