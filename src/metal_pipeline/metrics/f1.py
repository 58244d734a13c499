"""Maximum F1 score over all thresholds (pixel- or image-level)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve

from metal_pipeline.metrics._pool import ArrayOrList, pool_pair


def f1_scores(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """``2 P R / (P + R)`` element-wise, 0 where ``P + R = 0`` (shared with the once-sorted report)."""
    precision = np.asarray(precision, dtype=np.float64)
    recall = np.asarray(recall, dtype=np.float64)
    denom = precision + recall
    return np.divide(2.0 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)


def f1_max(labels: ArrayOrList, scores: ArrayOrList) -> tuple[float, float]:
    """Best F1 over every threshold of the pooled samples, and that threshold.

    For each distinct score ``t`` the prediction is ``score >= t``;
    ``F1 = 2 P R / (P + R)`` (0 where ``P + R = 0``). Computed from
    ``sklearn.metrics.precision_recall_curve`` (all thresholds, exact).

    Returns:
        ``(f1, threshold)``; on ties of F1 the lowest such threshold.

    Raises:
        ValueError: a single class in ``labels``, a size mismatch, non-finite scores.
    """
    y, s = pool_pair(labels, scores, metric="F1-max")
    precision, recall, thresholds = precision_recall_curve(y, s)
    # The last (precision=1, recall=0) point has no threshold.
    f1 = f1_scores(precision[:-1], recall[:-1])
    best = int(np.argmax(f1))
    return float(f1[best]), float(thresholds[best])
