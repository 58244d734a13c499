"""Full AUROC (area under the whole ROC curve), pixel- or image-level."""

from __future__ import annotations

import numpy as np

from metal_pipeline.metrics._pool import ArrayOrList
from metal_pipeline.metrics.curve import pooled_roc_curve


def auroc(labels: ArrayOrList, scores: ArrayOrList) -> float:
    """Area under the full ROC curve of the pooled samples.

    Trapezoidal area of ``pooled_roc_curve``; identical to
    ``sklearn.metrics.roc_auc_score`` (ties count one half, i.e. the
    Mann-Whitney U statistic divided by ``n_pos * n_neg``).

    Args:
        labels: binary ground truth, any value ``> 0`` is anomalous.
        scores: scores with the same total number of elements.

    Raises:
        ValueError: a single class in ``labels``, a size mismatch, non-finite scores.
    """
    fpr, tpr, _ = pooled_roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))
