"""Partial pixel AUROC up to an FPR limit, MVTec AD convention (and the McClish variant).

Definition (Bergmann et al., "The MVTec Anomaly Detection Dataset", IJCV 2021):
pool all given pixels, compute the ROC curve, integrate TPR over FPR from 0 to
``max_fpr`` with the trapezoidal rule (TPR at exactly ``max_fpr`` linearly
interpolated), and divide by ``max_fpr``. Perfect = 1.0; a random scorer
= ``max_fpr / 2`` (0.15 at 0.3); an inverted perfect scorer = 0.0.

This is *not* what ``sklearn.metrics.roc_auc_score(max_fpr=...)`` returns:
sklearn applies the McClish standardisation (random = 0.5, perfect = 1.0),
exposed here as :func:`mcclish_partial_auroc`. The two are related by
:func:`mcclish_from_normalized`.
"""

from __future__ import annotations

from sklearn.metrics import roc_auc_score

from metal_pipeline.metrics._pool import ArrayOrList, check_max_fpr, pool_pair
from metal_pipeline.metrics.curve import normalized_partial_area, pooled_roc_curve


def partial_auroc(labels: ArrayOrList, scores: ArrayOrList, max_fpr: float = 0.3) -> float:
    """Normalised partial AUROC over ``FPR in [0, max_fpr]`` (MVTec AD IJCV 2021 convention).

    Args:
        labels: binary ground truth (pixel masks ``(n, H, W)``, a list of 2-D
            masks, or image labels); any value ``> 0`` is anomalous.
        scores: anomaly scores with the same total number of elements.
        max_fpr: FPR integration limit in (0, 1].

    Returns:
        Area / ``max_fpr`` in [0, 1]: 1 perfect, ``max_fpr/2`` random, 0 inverted.

    Raises:
        ValueError: a single class in ``labels``, a size mismatch, non-finite scores.
    """
    max_fpr = check_max_fpr(max_fpr)
    fpr, tpr, _ = pooled_roc_curve(labels, scores)
    return normalized_partial_area(fpr, tpr, max_fpr)


def mcclish_partial_auroc(labels: ArrayOrList, scores: ArrayOrList, max_fpr: float = 0.3) -> float:
    """McClish-standardised partial AUROC: ``sklearn.metrics.roc_auc_score(max_fpr=max_fpr)``.

    ``0.5 * (1 + (A - A_min) / (A_max - A_min))`` with ``A`` the raw (not
    normalised) partial area, ``A_min = max_fpr**2 / 2`` (the diagonal) and
    ``A_max = max_fpr``. Random = 0.5, perfect = 1.0. A *different number*
    from :func:`partial_auroc`; see :func:`mcclish_from_normalized`.
    """
    max_fpr = check_max_fpr(max_fpr)
    y, s = pool_pair(labels, scores, metric="McClish pAUROC")
    return float(roc_auc_score(y, s, max_fpr=max_fpr))


def mcclish_from_normalized(pauroc: float, max_fpr: float = 0.3) -> float:
    """Convert an MVTec-normalised pAUROC (``area / max_fpr``) to the McClish value.

    Example: 0.844 at ``max_fpr=0.3`` -> raw area 0.2532 ->
    ``0.5 * (1 + (0.2532 - 0.045) / (0.3 - 0.045))`` = 0.9082.
    """
    max_fpr = check_max_fpr(max_fpr)
    area = pauroc * max_fpr
    a_min = 0.5 * max_fpr**2
    return 0.5 * (1.0 + (area - a_min) / (max_fpr - a_min))


def normalized_from_mcclish(mcclish: float, max_fpr: float = 0.3) -> float:
    """Inverse of :func:`mcclish_from_normalized`."""
    max_fpr = check_max_fpr(max_fpr)
    a_min = 0.5 * max_fpr**2
    area = a_min + (2.0 * mcclish - 1.0) * (max_fpr - a_min)
    return area / max_fpr
