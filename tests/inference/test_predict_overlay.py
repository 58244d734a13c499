"""Overlay drawing: cold pixels keep the image, the threshold saturates, the scale rule."""

from __future__ import annotations

import numpy as np
import pytest

from metal_pipeline.inference.overlay import colour_table, overlay_heatmap, overlay_scale


def test_cold_pixels_keep_the_image_and_hot_ones_take_the_top_colour():
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    heat = np.zeros((5, 7), dtype=np.float32)
    heat[2, 3] = 0.4   # above the threshold 0.2: clipped to full colour
    heat[1, 1] = 0.1   # half way
    out = overlay_heatmap(image, heat, scale=0.2, colormap="jet", alpha=0.6)
    top = colour_table("jet")[255].astype(np.float64)
    mid = colour_table("jet")[128].astype(np.float64)
    untouched = heat == 0
    np.testing.assert_array_equal(out[untouched], image[untouched])
    np.testing.assert_array_equal(out[2, 3], np.rint(0.4 * image[2, 3] + 0.6 * top).astype(np.uint8))
    # half way: colour weight 0.3 (alpha 0.6 x 0.5); +-1 for float32 rounding of .5 ties
    np.testing.assert_allclose(out[1, 1].astype(np.float64), 0.7 * image[1, 1] + 0.3 * mid, atol=1.0)


def test_scale_is_the_threshold_else_the_map_maximum():
    heat = np.array([[0.0, 0.5], [2.0, 1.0]], dtype=np.float32)
    assert overlay_scale(heat, 0.25) == 0.25
    assert overlay_scale(heat, None) == 2.0
    assert overlay_scale(heat, 0.0) == 2.0
    assert overlay_scale(np.zeros((2, 2)), None) == 1.0


def test_bad_arguments():
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="does not match"):
        overlay_heatmap(image, np.zeros((4, 5)), 1.0)
    with pytest.raises(ValueError, match="unknown colour map"):
        overlay_heatmap(image, np.zeros((4, 4)), 1.0, colormap="no-such-map")
    with pytest.raises(ValueError, match="scale"):
        overlay_heatmap(image, np.zeros((4, 4)), 0.0)
