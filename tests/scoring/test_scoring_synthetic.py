"""Validation-time synthetic anomalies: deterministic by seed, masks exactly where pixels changed."""

from __future__ import annotations

import numpy as np
import pytest

from metal_pipeline.scoring.synthetic import paste_anomalies


def _images(n=6, c=3, size=64):
    return np.random.default_rng(0).integers(60, 200, (n, c, size, size), dtype=np.uint8)


def test_same_seed_same_output_other_seed_differs() -> None:
    imgs = _images()
    a, ma = paste_anomalies(imgs, seed=5, per_image=2)
    b, mb = paste_anomalies(imgs, seed=5, per_image=2)
    c, _ = paste_anomalies(imgs, seed=6, per_image=2)
    assert np.array_equal(a, b) and np.array_equal(ma, mb)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("channels", [1, 3])
def test_masks_mark_changed_pixels_and_input_is_untouched(channels: int) -> None:
    imgs = _images(c=channels)
    before = imgs.copy()
    out, masks = paste_anomalies(imgs, seed=1)
    assert np.array_equal(imgs, before)
    changed = np.any(out != imgs, axis=1)
    assert masks.dtype == np.uint8 and set(np.unique(masks)) <= {0, 1}
    assert np.array_equal(masks.astype(bool), changed)  # one anomaly per image: no overlap to lose
    assert (masks.reshape(len(masks), -1).sum(1) > 0).all()


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="uint8"):
        paste_anomalies(np.zeros((2, 3, 8, 8), np.float32))
