"""Pixel ROC curve figure with the partial-AUROC region shaded."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from metal_pipeline.metrics._pool import ArrayOrList, check_max_fpr
from metal_pipeline.metrics.curve import normalized_partial_area, pooled_roc_curve
from metal_pipeline.reporting._figure import new_figure

#: Curves with more points are thinned for drawing only (metrics use all points).
MAX_PLOT_POINTS = 20_000


def _thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_PLOT_POINTS) -> tuple[np.ndarray, np.ndarray]:
    if x.size <= limit:
        return x, y
    idx = np.unique(np.linspace(0, x.size - 1, limit).round().astype(np.int64))
    return x[idx], y[idx]


def roc_figure(labels: ArrayOrList, scores: ArrayOrList, max_fpr: float = 0.3, title: str | None = None) -> Figure:
    """Pooled ROC curve; the area counted by pAUROC (FPR in [0, max_fpr]) shaded.

    The legend gives the full AUROC and the MVTec-normalised pAUROC, both
    computed from the exact curve (the drawn line is thinned to at most
    ``MAX_PLOT_POINTS`` points).

    Args:
        labels: binary ground truth (pixel masks), ``> 0`` anomalous.
        scores: anomaly maps / scores of the same total size.
        max_fpr: FPR limit of the shaded region.
        title: optional axes title.

    Returns:
        A ``matplotlib.figure.Figure`` (dpi 100), not registered with pyplot.
    """
    max_fpr = check_max_fpr(max_fpr)
    fpr, tpr, _ = pooled_roc_curve(labels, scores)
    pauroc = normalized_partial_area(fpr, tpr, max_fpr)
    full = float(np.trapezoid(tpr, fpr))

    fig = new_figure(4.5, 4.2)
    ax = fig.add_subplot()
    x, y = _thin(fpr, tpr)
    ax.plot(x, y, color="C0", lw=1.5, label=f"ROC (AUROC = {full:.3f})")
    # Shade exactly the region pAUROC integrates: curve points up to max_fpr + TPR(max_fpr).
    inside = fpr <= max_fpr
    fx, fy = _thin(np.append(fpr[inside], max_fpr), np.append(tpr[inside], np.interp(max_fpr, fpr, tpr)))
    ax.fill_between(fx, fy, color="C0", alpha=0.25,
                    label=f"pAUROC@{max_fpr:g} = {pauroc:.3f} (area / {max_fpr:g})")
    ax.axvline(max_fpr, color="0.4", ls="--", lw=0.8)
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1.0, label="random")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.01)
    ax.set_xlabel("false positive rate (normal pixels)")
    ax.set_ylabel("true positive rate (anomalous pixels)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return fig
