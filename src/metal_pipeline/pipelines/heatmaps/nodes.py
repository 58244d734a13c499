"""Thin nodes over ``AnomalyDetector.score`` and ``metal_pipeline.scoring``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.inference.detector import AnomalyDetector
from metal_pipeline.scoring import export_anomaly_maps, resize_maps

logger = logging.getLogger(__name__)


def score_test_set(detector: AnomalyDetector, test_set: ImageSet, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Reconstructions, smoothed anomaly maps and image scores of every test image."""
    result = detector.score(test_set.images, batch_size=params["batch_size"], device=params.get("device", "cpu"))
    logger.info("Scored %d test images (sigma=%g, score=%s of the map)", len(test_set), detector.sigma,
                detector.reduction)
    return {
        "reconstructions": result.reconstructions.astype(np.float32),
        "maps": result.maps.astype(np.float32),
        "scores": result.scores,
    }


def export_maps(
    test_scores: dict[str, np.ndarray],
    test_set: ImageSet,
    params: dict[str, Any],
    class_name: str,
    configuration: str,
    masking: str,
) -> pd.DataFrame:
    """Write the maps as float32 TIFFs in the official MVTec AD evaluation layout.

    ``params["export_resolution"]``: ``model`` (the model's 128 px) or
    ``original`` (each source image's size, as the official script expects).
    """
    maps = test_scores["maps"]
    if params["export_resolution"] == "original":
        maps = resize_maps(maps, test_set.original_sizes)
    elif params["export_resolution"] != "model":
        raise ValueError(f"heatmaps.export_resolution must be 'model' or 'original', got {params['export_resolution']!r}")
    root = Path(params["output_root"]) / class_name / f"{configuration}-{masking}"
    paths = export_anomaly_maps(maps, test_set.names, test_set.defects, root, class_name)
    logger.info("Exported %d anomaly maps under %s", len(paths), root / "anomaly_maps")
    return pd.DataFrame(
        {
            "name": test_set.names,
            "defect": test_set.defects,
            "label": test_set.labels,
            "score": test_scores["scores"],
            "tiff": [str(p) for p in paths],
            "source": test_set.source_paths,
        }
    )
