"""Slow, independent reference implementations used only by the metric tests.

Deliberately written differently from the package: explicit loops over
thresholds, no sklearn, a hand-written flood fill for connected regions and an
exact segment-by-segment integral.
"""

from __future__ import annotations

from collections import deque

import numpy as np


def segment_area(xs: list[float], ys: list[float], x_max: float) -> float:
    """Exact area under the polyline through (xs, ys) restricted to x in [0, x_max]."""
    area = 0.0
    for x0, y0, x1, y1 in zip(xs[:-1], ys[:-1], xs[1:], ys[1:]):
        if x1 <= x0 or x0 >= x_max:
            continue  # vertical step or beyond the limit: no area
        hi = min(x1, x_max)
        y_hi = y0 + (y1 - y0) * (hi - x0) / (x1 - x0)
        area += (hi - x0) * (y0 + y_hi) / 2.0
    return area


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[list[float], list[float]]:
    """ROC by brute force: one point per distinct score, positive when score >= t."""
    y = np.asarray(labels).ravel() > 0
    s = np.asarray(scores, dtype=np.float64).ravel()
    n_pos, n_neg = y.sum(), (~y).sum()
    xs, ys = [0.0], [0.0]
    for t in sorted(set(s.tolist()), reverse=True):
        pred = s >= t
        xs.append(float((pred & ~y).sum() / n_neg))
        ys.append(float((pred & y).sum() / n_pos))
    return xs, ys


def partial_auroc_ref(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    xs, ys = roc_points(labels, scores)
    return segment_area(xs, ys, max_fpr) / max_fpr


def regions_8(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """Connected components of a 2-D binary mask, 8-connectivity, by BFS flood fill."""
    mask = np.asarray(mask) > 0
    seen = np.zeros_like(mask, dtype=bool)
    h, w = mask.shape
    out = []
    for r in range(h):
        for c in range(w):
            if mask[r, c] and not seen[r, c]:
                comp, queue = [], deque([(r, c)])
                seen[r, c] = True
                while queue:
                    a, b = queue.popleft()
                    comp.append((a, b))
                    for da in (-1, 0, 1):
                        for db in (-1, 0, 1):
                            na, nb = a + da, b + db
                            if 0 <= na < h and 0 <= nb < w and mask[na, nb] and not seen[na, nb]:
                                seen[na, nb] = True
                                queue.append((na, nb))
                out.append(comp)
    return out


def au_pro_ref(masks: list[np.ndarray], maps: list[np.ndarray], max_fpr: float) -> float:
    """AU-PRO by an explicit loop over every distinct score as threshold."""
    regions = [(i, comp) for i, m in enumerate(masks) for comp in regions_8(m)]
    normal_total = sum(int((np.asarray(m) == 0).sum()) for m in masks)
    all_scores = sorted({float(v) for a in maps for v in np.asarray(a).ravel()}, reverse=True)
    xs, ys = [0.0], [0.0]
    for t in all_scores:
        fp = sum(int(((np.asarray(a) >= t) & (np.asarray(m) == 0)).sum()) for m, a in zip(masks, maps))
        overlaps = [np.mean([maps[i][p] >= t for p in comp]) for i, comp in regions]
        xs.append(fp / normal_total)
        ys.append(float(np.mean(overlaps)))
    xs.append(1.0)
    ys.append(1.0)
    return segment_area(xs, ys, max_fpr) / max_fpr
