"""Full AUROC and F1-max."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu
from sklearn.metrics import roc_auc_score

from metal_pipeline.metrics import auroc, f1_max


def test_auroc_hand_built():
    # P 0.9 beats all 5 N (5); P 0.6 beats 3 N, ties 1 (0.5), loses 1: 8.5 / 10
    labels = np.array([1, 0, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.6, 0.6, 0.4, 0.3, 0.2])
    assert auroc(labels, scores) == pytest.approx(0.85, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_equals_sklearn_and_mann_whitney(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(3000) < 0.2
    scores = np.round(rng.normal(size=3000) + 0.7 * labels, 1)
    value = auroc(labels, scores)
    assert value == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    u = mannwhitneyu(scores[labels], scores[~labels]).statistic
    assert value == pytest.approx(u / (labels.sum() * (~labels).sum()), abs=1e-12)


def test_auroc_single_class_raises():
    with pytest.raises(ValueError, match="no positive"):
        auroc(np.zeros(5), np.arange(5.0))


def _f1_at(labels, scores, t):
    pred = scores >= t
    tp = np.sum(pred & labels)
    fp = np.sum(pred & ~labels)
    fn = np.sum(~pred & labels)
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def test_f1_max_hand_built():
    # t=0.9: P=1, R=.5 -> 2/3; t=0.8: .5/.5 -> .5; t=0.6: P=.5, R=1 -> 2/3 (tie, lower t kept)
    labels = np.array([1, 0, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.6, 0.6, 0.4, 0.3, 0.2])
    f1, t = f1_max(labels, scores)
    assert f1 == pytest.approx(2 / 3, abs=1e-12)
    assert t == pytest.approx(0.6)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_f1_max_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(800) < 0.15
    scores = np.round(rng.normal(size=800) + 1.2 * labels, 2)
    brute = max(_f1_at(labels, scores, t) for t in np.unique(scores))
    f1, t = f1_max(labels, scores)
    assert f1 == pytest.approx(brute, abs=1e-12)
    assert _f1_at(labels, scores, t) == pytest.approx(f1, abs=1e-12)


def test_f1_max_perfect():
    labels = np.array([0, 0, 0, 1, 1])
    f1, t = f1_max(labels, np.array([0.1, 0.2, 0.3, 0.8, 0.9]))
    assert f1 == pytest.approx(1.0)
    assert t == pytest.approx(0.8)
