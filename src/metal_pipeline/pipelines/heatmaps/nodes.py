"""Thin nodes over ``AnomalyDetector.score`` and ``metal_pipeline.scoring``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metal_pipeline import run_identity
from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.errors import SplitMismatchError
from metal_pipeline.inference.detector import AnomalyDetector
from metal_pipeline.scoring import resize_maps
from metal_pipeline.scoring.export import ANOMALY_MAPS_DIR, TIFF_SUFFIX, anomaly_map_keys

logger = logging.getLogger(__name__)


def check_test_split(detector: AnomalyDetector, test_set: ImageSet) -> None:
    """Refuse to score a test set of another split than the one the detector was trained on."""
    split = (getattr(detector, "metadata", None) or {}).get("split") or {}
    expected = (split.get("digests") or {}).get("test")
    if expected is None:
        logger.warning("The detector records no data split (trained before split fingerprints existed); "
                       "cannot check that the test set belongs to its training split.")
        return
    found = run_identity.image_set_digest(test_set)
    if found != expected:
        raise SplitMismatchError(
            f"The test set loaded ({len(test_set)} images, digest {found}) is not the test set of split "
            f"{split.get('name')} that this detector (run {detector.metadata.get('run_name')}) was trained "
            f"with (digest {expected}). Scoring it could count training images as test images, so nothing "
            "was scored. Fix: run the full pipeline with the same parameters as the training run "
            "(kedro run --pipelines=train_eval --params ...), which re-creates the matching split in its own "
            "folder, or pass the parameters (seed, ingestion.*) of the run you want to evaluate."
        )


def score_test_set(detector: AnomalyDetector, test_set: ImageSet, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Reconstructions, smoothed anomaly maps and image scores of every test image
    (after checking that ``test_set`` belongs to the detector's training split)."""
    check_test_split(detector, test_set)
    result = detector.score(test_set.images, batch_size=params["batch_size"], device=params.get("device", "cpu"))
    settings = detector.scoring_settings()
    logger.info("Scored %d test images (maps %s, normalise %s, sigma=%g, score=%s of the map over %s pixels)",
                len(test_set), "+".join(settings["map_kinds"]), settings["normalise"], detector.sigma,
                detector.reduction, settings["region"])
    return {
        "reconstructions": result.reconstructions.astype(np.float32),
        "maps": result.maps.astype(np.float32),
        "scores": result.scores,
        # the decision threshold stored with the model (NaN without one)
        "threshold": np.array(np.nan if detector.threshold is None else detector.threshold, dtype=np.float64),
    }


def export_maps(
    test_scores: dict[str, np.ndarray],
    test_set: ImageSet,
    params: dict[str, Any],
    class_name: str,
    training_summary: dict[str, Any],
    scoring_params: dict[str, Any],
    evaluation_params: dict[str, Any],
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """The maps for the catalog's ``anomaly_maps`` (float32 TIFFs in the official MVTec AD evaluation
    layout, ``<output_root>/<run name>/<scoring key>/anomaly_maps/<class>/test/<defect>/<stem>.tiff``,
    keyed by that path below ``output_root`` without the suffix) and their index.

    ``params["export_resolution"]``: ``model`` (the model's 128 px) or
    ``original`` (each source image's size, as the official script expects).
    """
    maps = test_scores["maps"]
    if params["export_resolution"] == "original":
        maps = resize_maps(maps, test_set.original_sizes)
    elif params["export_resolution"] != "model":
        raise ValueError(f"heatmaps.export_resolution must be 'model' or 'original', got {params['export_resolution']!r}")
    scoring = run_identity.scoring_name({"scoring": scoring_params, "heatmaps": params,
                                         "evaluation": evaluation_params})
    folder = f"{training_summary['run_name']}/{scoring}"
    keys = [f"{folder}/{key}" for key in anomaly_map_keys(test_set.names, test_set.defects, class_name)]
    root = Path(params["output_root"])
    logger.info("Exporting %d anomaly maps under %s", len(keys), root / folder / ANOMALY_MAPS_DIR)
    index = pd.DataFrame(
        {
            "name": test_set.names,
            "defect": test_set.defects,
            "label": test_set.labels,
            "score": test_scores["scores"],
            "tiff": [str(root / f"{key}{TIFF_SUFFIX}") for key in keys],
            "source": test_set.source_paths,
        }
    )
    return dict(zip(keys, maps, strict=True)), index
