"""The accept/reject threshold, chosen from held-out normal images at training time.

Rule: the threshold is the ``(1 - target_fpr)`` quantile of the image scores of
the validation normals (``numpy.quantile(..., method="higher")``, i.e. an
observed score), so that about ``target_fpr`` of normal parts are rejected.
With few validation images the quantile is coarse (with 20 images and
``target_fpr=0.05`` it is the largest score); that is stated in the card
returned with it so nobody mistakes it for a precise FPR.
"""

from __future__ import annotations

import numpy as np


def choose_threshold(normal_scores: np.ndarray, target_fpr: float = 0.05) -> dict:
    scores = np.asarray(normal_scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError("cannot choose a threshold from zero validation images; raise ingestion.val_fraction")
    if not 0.0 <= target_fpr < 1.0:
        raise ValueError(f"target_fpr must be in [0, 1), got {target_fpr}")
    threshold = float(np.quantile(scores, 1.0 - target_fpr, method="higher"))
    return {
        "threshold": threshold,
        "rule": "quantile(validation normal image scores, 1 - target_fpr, method='higher')",
        "target_fpr": float(target_fpr),
        "n_validation_normals": int(scores.size),
        "validation_fpr_at_threshold": float(np.mean(scores > threshold)),
    }
