"""AnomalyDetector scoring settings: map kinds, grid offsets, normalisation by validation normals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metal_pipeline.inference.detector import AnomalyDetector, map_statistics
from metal_pipeline.model import MeTAL, MeTALConfig


def _net():
    torch.manual_seed(0)
    return MeTAL(MeTALConfig(img_size=32, patch_size=8, channels=3, embed_dim=16, num_heads=2,
                             configuration="squares_rows", masking="strict"))


def _images(n=6, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)


def test_pixel_normalisation_centres_the_fit_set() -> None:
    det = AnomalyDetector(_net(), sigma=1.0, map_kinds=["l2", "msgms"], normalise="pixel")
    imgs = _images()
    det.fit_normaliser(imgs)
    raw, _ = det.raw_maps(imgs)
    combined = det.combine(raw)
    # each kind has per-pixel mean 0 over the fit set, so their sum does too
    np.testing.assert_allclose(combined.mean(axis=0), 0.0, atol=1e-4)
    scores = det.score(imgs).scores
    assert scores.shape == (6,)


def test_normalise_without_fit_is_an_error() -> None:
    det = AnomalyDetector(_net(), sigma=1.0, normalise="global")
    with pytest.raises(RuntimeError, match="fit_normaliser"):
        det.score(_images())


def test_offsets_average_rolled_reconstructions() -> None:
    net = _net()
    imgs = _images(2)
    det = AnomalyDetector(net, sigma=0.0, offsets=[[0, 0], [4, 4]])
    maps, recon = det.raw_maps(imgs)
    x = torch.from_numpy(imgs).float() / 255
    with torch.no_grad():
        r0 = net(x)
        r1 = torch.roll(net(torch.roll(x, (4, 4), dims=(2, 3))), (-4, -4), dims=(2, 3))
    expected = (((x - r0) ** 2).sum(1) + ((x - r1) ** 2).sum(1)) / 2
    np.testing.assert_allclose(maps["l2"], expected.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(recon, r0.numpy(), rtol=1e-6)


def test_old_pickles_without_settings_score_as_before() -> None:
    det = AnomalyDetector(_net(), sigma=1.0)
    for attr in ("map_kinds", "offsets", "normalise", "norm_stats"):
        delattr(det, attr)
    assert det.score(_images(2)).maps.shape == (2, 32, 32)


def test_map_statistics_floor_the_std() -> None:
    maps = np.zeros((4, 8, 8), np.float32)
    maps[:, 0, 0] = [1, 2, 3, 4]
    mean, std = map_statistics(maps, "pixel")
    assert std.min() > 0
    with pytest.raises(ValueError):
        AnomalyDetector(_net(), sigma=1.0, normalise="zscore")


def test_leave_one_out_scores_are_not_fitted_on_themselves() -> None:
    det = AnomalyDetector(_net(), sigma=1.0, map_kinds=["l2"], normalise="pixel")
    imgs = _images(6)
    det.fit_normaliser(imgs)
    stats = det.norm_stats
    loo = det.leave_one_out_scores(imgs)
    assert det.norm_stats is stats  # restored
    raw, _ = det.raw_maps(imgs)
    for i in range(len(imgs)):
        keep = np.arange(len(imgs)) != i
        mean, std = map_statistics(raw["l2"][keep], "pixel")
        assert np.isclose(loo[i], ((raw["l2"][i] - mean) / std).max(), rtol=1e-5)
    # in-sample scores are optimistic: lower than leave-one-out ones
    assert (det.score(imgs).scores < loo).mean() > 0.5


def _head():
    from metal_pipeline.model.seg_head import SegHead, SegHeadConfig

    torch.manual_seed(1)
    return SegHead(SegHeadConfig(channels=3, width=4, levels=2))


def test_image_kinds_score_images_from_their_own_map_and_leave_the_heatmap_alone() -> None:
    from metal_pipeline.scoring.image_score import image_scores

    imgs, fit = _images(4, seed=3), _images(6)
    both = AnomalyDetector(_net(), sigma=1.0, map_kinds=["seg"], image_kinds=["l2", "msgms"], normalise="pixel",
                           seg_head=_head())
    both.fit_normaliser(fit)
    heat_only = AnomalyDetector(_net(), sigma=1.0, map_kinds=["seg"], normalise="pixel", seg_head=_head())
    heat_only.fit_normaliser(fit)
    image_only = AnomalyDetector(_net(), sigma=1.0, map_kinds=["l2", "msgms"], normalise="pixel")
    image_only.fit_normaliser(fit)
    got = both.score(imgs)
    np.testing.assert_array_equal(got.maps, heat_only.score(imgs).maps)
    np.testing.assert_array_equal(got.scores, image_only.score(imgs).scores)
    np.testing.assert_array_equal(got.scores, image_scores(image_only.score(imgs).maps, "max"))
    # the threshold's held-out scores come from the image kinds too
    np.testing.assert_array_equal(both.leave_one_out_scores(fit), image_only.leave_one_out_scores(fit))


def test_the_head_probability_is_never_normalised() -> None:
    det = AnomalyDetector(_net(), sigma=0.0, map_kinds=["seg"], normalise="pixel", seg_head=_head())
    det.fit_normaliser(_images(6))
    assert "seg" not in det.norm_stats
    raw, _ = det.raw_maps(_images(3, seed=4))
    np.testing.assert_array_equal(det.score(_images(3, seed=4)).maps, raw["seg"])
    assert ((raw["seg"] >= 0) & (raw["seg"] <= 1)).all()


def test_bf16_scoring_stays_close_to_fp32_and_off_is_unchanged() -> None:
    """``scoring.amp: bf16`` runs only the network in bf16: reconstructions come back float32 and within
    bf16 rounding of fp32's; ``amp="off"`` is the fp32 path bit for bit."""
    imgs = _images(8, seed=3)
    fp32 = AnomalyDetector(_net(), sigma=1.0, map_kinds=["l2", "msgms"])
    off = AnomalyDetector(_net(), sigma=1.0, map_kinds=["l2", "msgms"], amp="off")
    bf16 = AnomalyDetector(_net(), sigma=1.0, map_kinds=["l2", "msgms"], amp="bf16")
    maps32, rec32 = fp32.raw_maps(imgs)
    maps_off, rec_off = off.raw_maps(imgs)
    maps16, rec16 = bf16.raw_maps(imgs)
    assert np.array_equal(rec32, rec_off) and all(np.array_equal(maps32[k], maps_off[k]) for k in maps32)
    assert rec16.dtype == np.float32 and maps16["l2"].dtype == np.float32
    assert not np.array_equal(rec16, rec32)  # the arithmetic did change
    np.testing.assert_allclose(rec16, rec32, atol=3e-2)
    s32, s16 = fp32.score(imgs).scores, bf16.score(imgs).scores
    np.testing.assert_allclose(s16, s32, rtol=5e-2)
    assert bf16.scoring_settings()["amp"] == "bf16" and fp32.scoring_settings()["amp"] == "off"
    with pytest.raises(ValueError, match="amp must be one of"):
        AnomalyDetector(_net(), sigma=1.0, amp="fp16")
