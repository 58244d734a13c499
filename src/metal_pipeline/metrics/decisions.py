"""Image-level quality of the stored decision rule (score > threshold)."""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)


def decision_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Image-level precision, recall and F1 of the stored decision rule (score > threshold)."""
    if not np.isfinite(threshold):
        return {}
    labels = np.asarray(labels).astype(bool)
    flagged = np.asarray(scores) > threshold
    tp = float(np.sum(flagged & labels))
    precision = tp / flagged.sum() if flagged.any() else 0.0
    recall = tp / labels.sum() if labels.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    logger.info("Decisions at the stored threshold %.6g: %d of %d test images flagged (%d anomalous); "
                "precision %.3f, recall %.3f, F1 %.3f", threshold, int(flagged.sum()), len(flagged),
                int(labels.sum()), precision, recall, f1)
    return {"image_precision_at_threshold": precision, "image_recall_at_threshold": recall,
            "image_f1_at_threshold": f1, "n_flagged_at_threshold": float(flagged.sum())}
