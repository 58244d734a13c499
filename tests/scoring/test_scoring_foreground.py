"""Foreground region of an image score: object interior from the image itself, rim left out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metal_pipeline.inference.detector import AnomalyDetector
from metal_pipeline.model import MeTAL, MeTALConfig
from metal_pipeline.scoring.foreground import foreground_mask, region_masks
from metal_pipeline.scoring.image_score import image_scores


def _head(size=64, radius=24, rim=3, inner=100, skull=250):
    """A dark frame with a bright ring (skull) around a mid-gray disc (brain)."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    img = np.zeros((size, size), np.uint8)
    img[r < radius] = inner
    img[(r >= radius - rim) & (r < radius)] = skull
    return img, r


def test_foreground_is_the_filled_object_and_erosion_drops_the_rim() -> None:
    img, r = _head()
    whole = foreground_mask(img[None], erode=0)
    # Otsu falls between the dark frame and the head; holes are filled, so brain + skull
    assert whole[r < 23].all() and not whole[r > 25].any()
    inner = foreground_mask(img[None], erode=4)
    assert not inner[r >= 21].any(), "the 3-pixel skull rim must be eroded away"
    assert inner[r < 19].all()


def test_only_the_largest_object_is_kept() -> None:
    img, _ = _head()
    img[2:6, 2:6] = 255  # a burnt-in letter in a corner
    mask = foreground_mask(img[None])
    assert not mask[2:6, 2:6].any()


def test_blank_or_vanishing_foreground_falls_back_to_every_pixel() -> None:
    assert foreground_mask(np.full((1, 16, 16), 7, np.uint8)).all()
    img, _ = _head(size=64, radius=6, rim=2)
    assert foreground_mask(img[None], erode=10).all()


def test_region_scores_match_a_masked_reference() -> None:
    rng = np.random.default_rng(0)
    maps = rng.random((4, 16, 16)).astype(np.float32)
    regions = rng.random((4, 16, 16)) > 0.5
    for red, ref in (("max", np.max), ("mean", np.mean), ("p99", lambda v: np.percentile(v, 99))):
        expected = [ref(m[g].astype(np.float64)) for m, g in zip(maps, regions)]
        np.testing.assert_allclose(image_scores(maps, red, regions), expected, rtol=1e-12)
    top = [np.sort(m[g].astype(np.float64))[-int(np.ceil(0.01 * g.sum())):].mean() for m, g in zip(maps, regions)]
    np.testing.assert_allclose(image_scores(maps, "top1", regions), top, rtol=1e-12)
    with pytest.raises(ValueError, match="regions"):
        image_scores(maps, "max", regions[:2])


def test_region_masks_checks_its_setting() -> None:
    assert region_masks(np.zeros((2, 1, 8, 8), np.uint8), "all") is None
    with pytest.raises(ValueError, match="region"):
        region_masks(np.zeros((2, 1, 8, 8), np.uint8), "brain")


def test_detector_ignores_errors_outside_the_region() -> None:
    torch.manual_seed(0)
    net = MeTAL(MeTALConfig(img_size=32, patch_size=8, channels=1, embed_dim=16, num_heads=2,
                            configuration="squares", masking="strict"))
    img, r = _head(size=32, radius=12, rim=2)
    a = img.copy()
    a[0:3, 0:3] = 255  # a change in the background corner, outside the head
    images = np.stack([img, a])[:, None]
    det = AnomalyDetector(net, sigma=0.0, region="foreground", region_erode=3)
    s = det.score(images).scores
    region = foreground_mask(images[0], 3)
    raw, _ = det.raw_maps(images)
    np.testing.assert_allclose(s, [raw["l2"][i][region].max() for i in range(2)], rtol=1e-6)
    assert det.scoring_settings()["region"] == "foreground"
    with pytest.raises(ValueError, match="region"):
        AnomalyDetector(net, sigma=0.0, region="skull")
