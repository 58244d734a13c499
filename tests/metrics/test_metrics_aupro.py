"""AU-PRO (official MVTec AD definition, 8-connectivity)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from _metric_reference import au_pro_ref
from scipy import ndimage

from metal_pipeline.metrics import au_pro, partial_auroc, pro_curve


def _blobs():
    """Three 10x10 images; normal pixels score -1 except 60 of them at 5.

    * image 0: region A = 2x2 block, all four pixels score 10;
    * image 1: region B = two 4-connected pixels, scores 10 and 0;
    * image 2: good (all-zero mask).
    Normal pixels: 300 - 4 - 2 = 294, of which 60 score 5.
    """
    masks = np.zeros((3, 10, 10), np.uint8)
    maps = np.full((3, 10, 10), -1.0, np.float32)
    masks[0, 1:3, 1:3] = 1
    maps[0, 1:3, 1:3] = 10
    masks[1, 5, 5:7] = 1
    maps[1, 5, 5] = 10
    maps[1, 5, 6] = 0
    normal = np.flatnonzero(masks.ravel() == 0)
    maps.reshape(-1)[normal[::4][:60]] = 5  # 60 normal pixels spread over the images
    return masks, maps


def test_hand_computed_blobs():
    # Thresholds: t=10: A fully found (1), B half (1/2) -> PRO 3/4, FPR 0.
    #             t=5 : 60 normals -> FPR r = 60/294, PRO 3/4.
    #             t=0 : B complete -> PRO 1, FPR r.   t=-1: FPR 1.
    # Curve (0,0) (0,3/4) (r,3/4) (r,1) (1,1) (1,1); r = 0.204 < 0.3, so
    # area on [0, .3] = 3/4 * r + 1 * (0.3 - r), AU-PRO = area / 0.3.
    masks, maps = _blobs()
    r = Fraction(60, 294)
    expected = float((Fraction(3, 4) * r + (Fraction(3, 10) - r)) / Fraction(3, 10))
    assert au_pro(masks, maps, 0.3) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.829932, abs=1e-6)
    fprs, pros = pro_curve(masks, maps)
    np.testing.assert_allclose(fprs, [0, 0, float(r), float(r), 1, 1], atol=1e-12)
    np.testing.assert_allclose(pros, [0, 0.75, 0.75, 1, 1, 1], atol=1e-12)


def test_regions_are_8_connected():
    # Region A: two diagonal pixels (one region under 8-connectivity, two under 4),
    # both scored 10. Region B: two 4-connected pixels scored 10 and 0.
    # 60 normal pixels at 5 give FPR r before B completes.
    # 8-conn: PRO(10) = (1 + 1/2)/2 = 3/4;   4-conn would give (1 + 1 + 1/2)/3 = 5/6.
    masks = np.zeros((2, 12, 12), np.uint8)
    maps = np.full((2, 12, 12), -1.0, np.float64)
    for p in [(1, 1), (2, 2)]:
        masks[(0, *p)] = 1
        maps[(0, *p)] = 10
    masks[1, 6, 6:8] = 1
    maps[1, 6, 6] = 10
    maps[1, 6, 7] = 0
    normal = np.flatnonzero(masks.ravel() == 0)
    maps.reshape(-1)[normal[:60]] = 5
    n_normal = masks.size - 4
    r = 60 / n_normal
    eight = (0.75 * r + (0.3 - r)) / 0.3
    four = (5 / 6 * r + (0.3 - r)) / 0.3
    assert au_pro(masks, maps) == pytest.approx(eight, abs=1e-12)
    assert abs(eight - four) > 0.01
    # scipy agrees the diagonal pair is one 8-connected region
    assert ndimage.label(masks[0], structure=np.ones((3, 3)))[1] == 1


def _random_case(seed, shapes):
    rng = np.random.default_rng(seed)
    masks, maps = [], []
    for k, shape in enumerate(shapes):
        blob = ndimage.gaussian_filter(rng.random(shape), 1.0)
        m = (blob > np.quantile(blob, 0.85)).astype(np.uint8) if k % 3 else np.zeros(shape, np.uint8)
        s = np.round(rng.random(shape) + 0.6 * m, 1).astype(np.float32)  # ties on purpose
        masks.append(m)
        maps.append(s)
    return masks, maps


@pytest.mark.parametrize("max_fpr", [0.1, 0.3, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_slow_threshold_loop(seed, max_fpr):
    masks, maps = _random_case(seed, [(12, 12)] * 4)
    value = au_pro(np.stack(masks), np.stack(maps), max_fpr)
    assert value == pytest.approx(au_pro_ref(masks, maps, max_fpr), abs=1e-9)
    assert au_pro(masks, maps, max_fpr) == value  # list input gives the same


def test_ragged_list_matches_slow_reference():
    masks, maps = _random_case(3, [(10, 14), (12, 12), (9, 11), (13, 8)])
    assert au_pro(masks, maps) == pytest.approx(au_pro_ref(masks, maps, 0.3), abs=1e-9)


def test_single_region_equals_partial_auroc():
    # With one region, PRO(t) is the TPR, and the FPR is the same, so AU-PRO = pAUROC.
    rng = np.random.default_rng(7)
    masks = np.zeros((3, 20, 20), np.uint8)
    masks[1, 5:11, 4:9] = 1
    maps = (rng.random(masks.shape) + 0.8 * masks).astype(np.float32)
    assert au_pro(masks, maps) == pytest.approx(partial_auroc(masks, maps), abs=1e-9)


def test_perfect_maps():
    masks, _ = _blobs()
    maps = masks.astype(np.float32) + 0.01 * np.random.default_rng(0).random(masks.shape).astype(np.float32)
    assert au_pro(masks, maps) == pytest.approx(1.0, abs=1e-12)


def test_undefined_cases_raise():
    with pytest.raises(ValueError, match="no anomalous region"):
        au_pro(np.zeros((2, 4, 4)), np.random.default_rng(0).random((2, 4, 4)))
    with pytest.raises(ValueError, match="no normal pixel"):
        au_pro(np.ones((1, 4, 4)), np.random.default_rng(0).random((1, 4, 4)))
    with pytest.raises(ValueError, match="mask"):
        au_pro(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))
    bad = np.zeros((1, 4, 4))
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        au_pro(np.eye(4)[None], bad)
