"""Pooling helpers shared by the metrics: flatten per-image arrays into one pixel pool.

All pixel metrics in this package pool every given pixel of every given image
into one population (the MVTec AD convention), so the helpers here only have to
turn "an ``(n, H, W)`` array or a list of 2-D arrays of possibly different
sizes" into one flat vector, without copying when a view is possible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ArrayOrList = np.ndarray | Sequence[np.ndarray]


def _flatten(arrays: ArrayOrList, what: str) -> np.ndarray:
    """One flat vector: a view of an array, the concatenation of a list of arrays of any shapes."""
    if isinstance(arrays, np.ndarray):
        return arrays.reshape(-1)
    parts = [np.asarray(a).reshape(-1) for a in arrays]
    if not parts:
        raise ValueError(f"{what}: no arrays given")
    return np.concatenate(parts)


def pool_scores(scores: ArrayOrList, *, what: str = "scores") -> np.ndarray:
    """Flatten scores to 1-D floating point; a view when ``scores`` is a contiguous float array.

    float32 and float64 are kept as they are (no up-cast of a large float32
    pool); any other dtype (ints, float16) becomes float64 / float32.
    Raises ``ValueError`` on an empty pool or a non-finite score.
    """
    flat = _flatten(scores, what)
    if flat.dtype == np.float16:
        flat = flat.astype(np.float32)
    elif flat.dtype not in (np.float32, np.float64):
        flat = flat.astype(np.float64)
    if flat.size == 0:
        raise ValueError(f"{what}: empty")
    if not np.isfinite(flat).all():
        raise ValueError(f"{what}: contains NaN or infinite values")
    return flat


def pool_labels(labels: ArrayOrList, *, what: str = "labels") -> np.ndarray:
    """Flatten labels to a 1-D bool vector: any value ``> 0`` is positive (anomalous).

    So masks stored as {0, 1} or {0, 255} both work.
    """
    flat = _flatten(labels, what)
    if flat.dtype != np.bool_:
        flat = flat > 0
    return flat


def pool_pair(labels: ArrayOrList, scores: ArrayOrList, *, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Pool labels and scores and check they describe a two-class problem of equal length."""
    y = pool_labels(labels, what=f"{metric}: labels")
    s = pool_scores(scores, what=f"{metric}: scores")
    if y.shape != s.shape:
        raise ValueError(f"{metric}: {y.size} labels for {s.size} scores")
    n_pos = int(np.count_nonzero(y))
    if n_pos == 0:
        raise ValueError(f"{metric}: undefined, no positive (anomalous) samples among {y.size}")
    if n_pos == y.size:
        raise ValueError(f"{metric}: undefined, no negative (normal) samples among {y.size}")
    return y, s


def check_max_fpr(max_fpr: float) -> float:
    max_fpr = float(max_fpr)
    if not 0.0 < max_fpr <= 1.0:
        raise ValueError(f"max_fpr must be in (0, 1], got {max_fpr}")
    return max_fpr
