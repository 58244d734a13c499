"""Pooled ROC curve and the area under a curve up to an FPR limit (shared by pAUROC, AUROC, AU-PRO)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve as _sk_roc_curve

from metal_pipeline.metrics._pool import ArrayOrList, check_max_fpr, pool_pair


def pooled_roc_curve(labels: ArrayOrList, scores: ArrayOrList) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve over all given pixels (or images) pooled together.

    Args:
        labels: binary ground truth, any shape or a list of arrays; ``> 0`` is anomalous.
        scores: anomaly scores of the same total size; higher = more anomalous.

    Returns:
        ``(fpr, tpr, thresholds)`` from ``sklearn.metrics.roc_curve`` with
        ``drop_intermediate=True``: exact (every threshold where the curve
        changes direction is kept; only collinear points are dropped, which
        changes neither the area nor a linear interpolation), starting at
        (0, 0) and ending at (1, 1). A sample counts as positive at threshold
        ``t`` when ``score >= t``.

    Raises:
        ValueError: only one class present, size mismatch, non-finite scores.
    """
    y, s = pool_pair(labels, scores, metric="ROC")
    fpr, tpr, thresholds = _sk_roc_curve(y, s, drop_intermediate=True)
    return fpr, tpr, thresholds


def area_up_to(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoidal area under ``y(x)`` for ``x`` in ``[x[0], x_max]`` (not normalised).

    Same rule as ``trapezoid(x, y, x_max)`` in the official MVTec AD evaluation
    code (``generic_util.py``): every point with ``x <= x_max`` is used; when
    ``x_max`` itself is not a sample, ``y(x_max)`` is linearly interpolated
    between the last point ``<= x_max`` and the first point ``> x_max`` and
    the last partial trapezoid is added.

    Args:
        x: non-decreasing abscissae (e.g. FPR) with ``x[0] <= x_max <= x[-1]``.
        y: ordinates of the same length.
        x_max: upper integration limit.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError("area_up_to: x and y must be 1-D of equal length >= 2")
    if not x[0] <= x_max <= x[-1]:
        raise ValueError(f"area_up_to: x_max={x_max} outside [{x[0]}, {x[-1]}]")
    stop = int(np.searchsorted(x, x_max, side="right"))  # points with x <= x_max
    area = float(np.trapezoid(y[:stop], x[:stop])) if stop > 1 else 0.0
    if x[stop - 1] < x_max:  # then stop < len(x) and x[stop] > x_max
        x0, y0, x1, y1 = x[stop - 1], y[stop - 1], x[stop], y[stop]
        y_at = y0 + (y1 - y0) * (x_max - x0) / (x1 - x0)
        area += 0.5 * (y0 + y_at) * (x_max - x0)
    return area


def normalized_partial_area(x: np.ndarray, y: np.ndarray, max_fpr: float) -> float:
    """``area_up_to(x, y, max_fpr) / max_fpr``: 1.0 for a perfect curve."""
    max_fpr = check_max_fpr(max_fpr)
    return area_up_to(x, y, max_fpr) / max_fpr
