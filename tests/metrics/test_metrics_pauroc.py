"""partial_auroc (MVTec normalisation) and the McClish variant."""

from __future__ import annotations

import numpy as np
import pytest
from _metric_reference import partial_auroc_ref
from sklearn.metrics import roc_auc_score

from metal_pipeline.metrics import (
    mcclish_from_normalized,
    mcclish_partial_auroc,
    normalized_from_mcclish,
    partial_auroc,
)

# Hand-built ROC. 2 positives (P), 5 negatives (N); scores, descending:
#   0.9 P | 0.8 N | 0.6 P, 0.6 N (tie) | 0.4 N | 0.3 N | 0.2 N
# ROC points (FPR, TPR): (0,0) (0,.5) (.2,.5) (.4,1) (.6,1) (.8,1) (1,1);
# the tie gives the sloped segment (.2,.5)->(.4,1).
# Area on [0, .3]: [0,.2] 0.2*0.5 = 0.1; TPR(.3) = 0.75 by interpolation,
# [.2,.3] 0.1*(0.5+0.75)/2 = 0.0625; total 0.1625; / 0.3 = 0.541666...
# McClish: 0.5*(1 + (0.1625 - 0.045)/(0.3 - 0.045)) = 0.730392...
HAND_LABELS = np.array([1, 0, 1, 0, 0, 0, 0])
HAND_SCORES = np.array([0.9, 0.8, 0.6, 0.6, 0.4, 0.3, 0.2])


def test_hand_built_partial_area():
    assert partial_auroc(HAND_LABELS, HAND_SCORES, 0.3) == pytest.approx(0.1625 / 0.3, abs=1e-12)
    # limit exactly on a curve point: area on [0,.2] = 0.1 -> 0.5
    assert partial_auroc(HAND_LABELS, HAND_SCORES, 0.2) == pytest.approx(0.5, abs=1e-12)
    # limit 1: the full AUROC 0.85
    assert partial_auroc(HAND_LABELS, HAND_SCORES, 1.0) == pytest.approx(0.85, abs=1e-12)


def test_hand_built_mcclish():
    expected = 0.5 * (1 + (0.1625 - 0.045) / (0.3 - 0.045))
    assert mcclish_partial_auroc(HAND_LABELS, HAND_SCORES, 0.3) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.7303921568627451, abs=1e-12)


def test_perfect_is_one_and_inverted_is_zero():
    labels = np.array([0] * 50 + [1] * 10)
    scores = np.arange(60, dtype=np.float32)
    assert partial_auroc(labels, scores) == pytest.approx(1.0, abs=1e-12)
    assert partial_auroc(labels, -scores) == pytest.approx(0.0, abs=1e-12)
    assert mcclish_partial_auroc(labels, scores) == pytest.approx(1.0, abs=1e-12)


def test_random_scores_are_near_max_fpr_over_two():
    rng = np.random.default_rng(0)
    labels = rng.random(400_000) < 0.2
    scores = rng.random(400_000, dtype=np.float32)
    assert partial_auroc(labels, scores, 0.3) == pytest.approx(0.15, abs=0.01)
    assert partial_auroc(labels, scores, 0.1) == pytest.approx(0.05, abs=0.01)
    assert mcclish_partial_auroc(labels, scores, 0.3) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("max_fpr", [0.05, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_independent_threshold_loop(seed, max_fpr):
    rng = np.random.default_rng(seed)
    labels = (rng.random(1500) < 0.3).astype(np.uint8)
    # informative, with many ties (rounded to 2 decimals)
    scores = np.round(rng.normal(size=1500) + 0.8 * labels, 1).astype(np.float32)
    assert partial_auroc(labels, scores, max_fpr) == pytest.approx(
        partial_auroc_ref(labels, scores, max_fpr), abs=1e-9
    )


def test_pixel_pooling_of_masks_arrays_and_lists_agree():
    rng = np.random.default_rng(4)
    masks = (rng.random((5, 16, 16)) < 0.1).astype(np.uint8)
    maps = (rng.random((5, 16, 16)) + masks).astype(np.float32)
    stacked = partial_auroc(masks, maps)
    as_list = partial_auroc(list(masks), list(maps))
    as_255 = partial_auroc(masks * 255, maps)
    assert stacked == as_list == as_255
    assert stacked == pytest.approx(partial_auroc_ref(masks, maps, 0.3), abs=1e-9)
    # ragged list (different image sizes) pools all pixels
    ragged_m = [masks[0], masks[1, :8]]
    ragged_s = [maps[0], maps[1, :8]]
    flat_m = np.concatenate([m.ravel() for m in ragged_m])
    flat_s = np.concatenate([s.ravel() for s in ragged_s])
    assert partial_auroc(ragged_m, ragged_s) == pytest.approx(partial_auroc_ref(flat_m, flat_s, 0.3), abs=1e-9)


def test_mcclish_relation_to_normalized_value():
    rng = np.random.default_rng(5)
    labels = rng.random(5000) < 0.25
    scores = rng.normal(size=5000) + labels
    normalized = partial_auroc(labels, scores)
    sk = roc_auc_score(labels, scores, max_fpr=0.3)
    assert mcclish_partial_auroc(labels, scores) == pytest.approx(sk, abs=1e-12)
    assert mcclish_from_normalized(normalized, 0.3) == pytest.approx(sk, abs=1e-9)
    assert normalized_from_mcclish(sk, 0.3) == pytest.approx(normalized, abs=1e-9)
    assert normalized != pytest.approx(sk, abs=0.05)  # really a different number


def test_paper_value_conversion():
    # 0.844 MVTec-normalised -> raw area 0.2532 -> 0.5*(1 + 0.2082/0.255) = 0.90824
    assert mcclish_from_normalized(0.844, 0.3) == pytest.approx(0.908235, abs=1e-6)
    # random and perfect map to McClish 0.5 and 1
    assert mcclish_from_normalized(0.15, 0.3) == pytest.approx(0.5, abs=1e-12)
    assert mcclish_from_normalized(1.0, 0.3) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    "labels, scores, match",
    [
        (np.zeros(10), np.arange(10.0), "no positive"),
        (np.ones(10), np.arange(10.0), "no negative"),
        (np.array([0, 1, 0]), np.array([0.1, np.nan, 0.2]), "NaN"),
        (np.array([0, 1, 0]), np.array([0.1, 0.2]), "labels for"),
    ],
)
def test_invalid_inputs_raise(labels, scores, match):
    with pytest.raises(ValueError, match=match):
        partial_auroc(labels, scores)


@pytest.mark.parametrize("max_fpr", [0.0, -0.1, 1.5])
def test_invalid_max_fpr(max_fpr):
    with pytest.raises(ValueError, match="max_fpr"):
        partial_auroc(HAND_LABELS, HAND_SCORES, max_fpr)
