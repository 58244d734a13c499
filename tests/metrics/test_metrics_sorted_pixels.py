"""SortedPixels: one sort, any subset's curves equal the per-subset sklearn / reference metrics."""

from __future__ import annotations

import numpy as np
import pytest
from _metric_reference import au_pro_ref, partial_auroc_ref
from sklearn.metrics import roc_auc_score

from metal_pipeline.metrics import f1_max
from metal_pipeline.metrics.curve import normalized_partial_area
from metal_pipeline.metrics.sorted_pixels import SortedPixels


def _ragged_set(seed: int, quantise: bool):
    """Images of different sizes, a few with defects, maps with many ties when ``quantise``."""
    rng = np.random.default_rng(seed)
    masks, maps = [], []
    for i in range(7):
        h, w = rng.integers(9, 17, 2)
        m = np.zeros((h, w), np.uint8)
        if i % 2:
            r, c = rng.integers(0, h - 4), rng.integers(0, w - 4)
            m[r : r + 3, c : c + 3] = 255
            m[-1, -1] = 1 if i == 3 else 0  # a second, one-pixel region (never touching the first)
        a = rng.random((h, w)) + 0.6 * (m > 0)
        maps.append(np.round(a * 6) / 6 if quantise else a.astype(np.float32))
        masks.append(m)
    return masks, maps


@pytest.mark.parametrize("quantise", [False, True])
@pytest.mark.parametrize("subset", [None, [1, 0, 2], [3, 4, 6], [5, 1]])
def test_subset_curves_match_per_subset_metrics(quantise, subset):
    masks, maps = _ragged_set(seed=3, quantise=quantise)
    pool = SortedPixels(masks, maps)
    idx = range(len(masks)) if subset is None else subset
    sub_masks, sub_maps = [masks[i] for i in idx], [maps[i] for i in idx]
    y = np.concatenate([m.reshape(-1) > 0 for m in sub_masks])
    s = np.concatenate([a.reshape(-1) for a in sub_maps])

    curves = pool.curves(subset)
    fpr, tpr = curves.roc()
    assert float(np.trapezoid(tpr, fpr)) == pytest.approx(roc_auc_score(y, s), abs=1e-10)
    assert normalized_partial_area(fpr, tpr, 0.3) == pytest.approx(partial_auroc_ref(y, s, 0.3), abs=1e-10)
    assert curves.f1_max() == pytest.approx(f1_max(y, s), abs=1e-12)
    pro_fpr, pro = curves.pro()
    assert normalized_partial_area(pro_fpr, pro, 0.3) == pytest.approx(au_pro_ref(sub_masks, sub_maps, 0.3), abs=1e-10)
    assert curves.n_regions == sum(1 + (i == 3) for i in idx if i % 2)


def test_order_of_the_subset_does_not_matter():
    masks, maps = _ragged_set(seed=1, quantise=True)
    pool = SortedPixels(masks, maps)
    a, b = pool.curves([5, 2, 1]), pool.curves([1, 2, 5])
    for x, y in zip((a.thresholds, a.tps, a.fps, a.pro_sums), (b.thresholds, b.tps, b.fps, b.pro_sums)):
        np.testing.assert_array_equal(x, y)


def test_float32_and_float64_maps_give_the_same_curves():
    masks, maps = _ragged_set(seed=2, quantise=True)  # float64 maps: the argsort path
    a = SortedPixels(masks, maps).curves([0, 1, 3])
    b = SortedPixels(masks, [m.astype(np.float32) for m in maps]).curves([0, 1, 3])  # the key-sort path
    np.testing.assert_array_equal(a.thresholds.astype(np.float32), b.thresholds)
    for x, y in zip((a.tps, a.fps), (b.tps, b.fps)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(a.pro_sums, b.pro_sums, rtol=0, atol=1e-12)


def test_clear_errors():
    masks, maps = _ragged_set(seed=0, quantise=False)
    with pytest.raises(ValueError, match="7 masks for 6 maps"):
        SortedPixels(masks, maps[:6])
    with pytest.raises(ValueError, match="image 2: mask"):
        SortedPixels(masks, maps[:2] + [maps[2][:-1]] + maps[3:])
    bad = [a.copy() for a in maps]
    bad[4][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SortedPixels(masks, bad)
    pool = SortedPixels(masks, maps)
    with pytest.raises(ValueError, match="no positive"):
        pool.curves([0, 2]).roc()  # good images only
    with pytest.raises(ValueError, match="no anomalous region"):
        pool.curves([0, 2]).pro()
    with pytest.raises(ValueError, match="out of range"):
        pool.curves([7])
    with pytest.raises(ValueError, match="empty subset"):
        pool.curves([])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sort_keeps_every_float_and_its_pixel(dtype):
    from metal_pipeline.metrics.sorted_pixels import _sort_decreasing

    rng = np.random.default_rng(0)
    s = np.concatenate([rng.normal(size=500) * 1e3, [0.0, -0.0, 0.0, 1e-40, -1e-40, 3.4e38, -3.4e38],
                        np.repeat(rng.normal(size=5), 20)]).astype(dtype)
    rng.shuffle(s)
    sorted_s, order = _sort_decreasing(s, np.arange(s.size, dtype=np.uint32))  # the payload: each pixel's index
    assert sorted_s.dtype == s.dtype
    np.testing.assert_array_equal(sorted_s, np.sort(s)[::-1])
    np.testing.assert_array_equal(s[order], sorted_s)
    assert np.array_equal(np.sort(order), np.arange(s.size))
