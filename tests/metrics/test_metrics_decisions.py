"""Image-level precision / recall / F1 at the stored threshold, against scikit-learn."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score, precision_score, recall_score

from metal_pipeline.metrics.decisions import decision_metrics


def test_decision_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 50)
    scores = rng.random(50) + 0.3 * labels
    got = decision_metrics(labels, scores, 0.6)
    pred = scores > 0.6
    assert np.isclose(got["image_precision_at_threshold"], precision_score(labels, pred))
    assert np.isclose(got["image_recall_at_threshold"], recall_score(labels, pred))
    assert np.isclose(got["image_f1_at_threshold"], f1_score(labels, pred))
    assert got["n_flagged_at_threshold"] == pred.sum()


def test_no_threshold_no_decision_metrics():
    assert decision_metrics(np.array([0, 1]), np.array([0.1, 0.2]), float("nan")) == {}
