"""resize_image / resize_mask / read_image: formats, modes, channels, binarity, bad files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from synthetic import defect_region, save_image, synthetic_picture

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.images import (
    binarize_mask,
    image_mode,
    is_image_name,
    load_image,
    normalise_extensions,
    read_image,
    resize_image,
    resize_mask,
)


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "LA", "P", "I;16"])
@pytest.mark.parametrize("channels", [1, 3])
def test_resize_image_any_mode_gives_uint8_chw(mode, channels):
    img = synthetic_picture(50, 38, mode, seed=1)
    out = resize_image(img, 24, channels)
    assert out.dtype == np.uint8
    assert out.shape == (channels, 24, 24)
    assert 20 < out.mean() < 235  # real content, not an all-black/white conversion accident


def test_sixteen_bit_gray_is_scaled_not_clipped():
    gray8 = np.asarray(synthetic_picture(32, 32, "L", seed=2))
    img16 = Image.fromarray(gray8.astype(np.uint16) * 257)
    assert img16.mode.startswith("I;16")
    np.testing.assert_array_equal(resize_image(img16, 32, 1), resize_image(Image.fromarray(gray8), 32, 1))


def test_alpha_is_dropped_not_blended():
    rgba = synthetic_picture(32, 32, "RGBA", seed=3)
    np.testing.assert_array_equal(resize_image(rgba, 32, 3), resize_image(rgba.convert("RGB"), 32, 3))


def test_gray_to_three_channels_replicates():
    out = resize_image(synthetic_picture(40, 40, "L"), 20, 3)
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[1], out[2])


def test_array_and_pil_inputs_give_identical_pixels():
    img = synthetic_picture(60, 45, "RGB", seed=4)
    arr = np.asarray(img)
    for channels in (1, 3):
        ref = resize_image(img, 32, channels)
        np.testing.assert_array_equal(resize_image(arr, 32, channels), ref)
        np.testing.assert_array_equal(resize_image(arr.astype(np.float32) / 255.0, 32, channels), ref)
    gray = np.asarray(img.convert("L"))
    np.testing.assert_array_equal(resize_image(gray, 16, 1), resize_image(gray[:, :, None], 16, 1))


def test_resize_is_antialiased():
    """A 1-pixel checkerboard shrunk 8x must average to mid-gray, not alias to black/white."""
    board = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    out = resize_image(board, 8, 1)
    assert np.all(np.abs(out.astype(int) - 128) <= 3), out


def test_load_image_matches_ingestion_path(tmp_path):
    path = save_image(synthetic_picture(70, 50, "RGB", seed=5), tmp_path / "a.JPG")
    with read_image(path) as img:
        expected = resize_image(img, 32, 3)
    np.testing.assert_array_equal(load_image(path, 32, 3), expected)
    assert image_mode(path) == "RGB"


def test_resize_image_rejects_bad_arguments():
    with pytest.raises(ValueError, match="channels"):
        resize_image(np.zeros((8, 8), np.uint8), 8, 2)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        resize_image(np.zeros((2, 8, 8, 3), np.uint8), 8, 3)


@pytest.mark.parametrize(("src", "size"), [((900, 900), 128), ((256, 256), 128), ((50, 37), 128), ((61, 83), 17)])
def test_resized_masks_stay_binary_and_aligned(src, size):
    w, h = src
    region = defect_region(w, h)
    out = resize_mask(Image.fromarray(region.astype(np.uint8) * 255), size)
    assert out.dtype == np.uint8 and out.shape == (size, size)
    assert set(np.unique(out)) <= {0, 1}
    # same geometry as the image: the resized picture's bright square sits where the mask is
    pic = resize_image(synthetic_picture(w, h, "L", defect=True), size, 1)[0]
    assert out.any()
    assert pic[out == 1].mean() > pic[out == 0].mean() + 60


def test_binarize_mask_conventions():
    assert binarize_mask(np.array([[0, 1]], np.uint8)).tolist() == [[False, True]]
    assert binarize_mask(np.array([[0, 100, 200, 255]], np.uint8)).tolist() == [[False, False, True, True]]
    assert binarize_mask(np.array([[0, 30000, 65535]], np.uint16)).tolist() == [[False, False, True]]
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[0, 1, 0] = 255  # pure red marks the defect
    assert binarize_mask(rgb).tolist() == [[False, True]]


def test_noisy_jpeg_mask_is_binarised(tmp_path):
    region = defect_region(64, 64)
    path = save_image(Image.fromarray(region.astype(np.uint8) * 255), tmp_path / "m.jpg")
    with read_image(path) as m:
        assert len(np.unique(np.asarray(m))) > 2  # JPEG really is noisy
        out = resize_mask(m, 64)
    assert set(np.unique(out)) == {0, 1}
    assert (out.astype(bool) != region).mean() < 0.01


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_truncated_file_raises_data_error_naming_it(tmp_path, ext):
    path = save_image(synthetic_picture(64, 64, "RGB"), tmp_path / f"broken{ext}")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as err:
        read_image(path)
    assert str(path) in str(err.value)
    assert "Fix" in str(err.value)


def test_not_an_image_raises_data_error(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a png")
    with pytest.raises(DataError, match=r"notes\.png.*Fix"):
        read_image(path)


def test_corrupted_png_bytes_are_caught(tmp_path):
    """Same length, flipped bytes inside the pixel data: caught by the PNG checksum (verify)."""
    path = save_image(synthetic_picture(64, 64, "RGB"), tmp_path / "flipped.png")
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 40
    data[start:start + 16] = bytes(255 - b for b in data[start:start + 16])
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"flipped\.png"):
        read_image(path)


def test_one_rule_for_which_files_are_images(tmp_path):
    assert is_image_name("000.PNG") and is_image_name("a.b.jpeg") and is_image_name("scan.tif")
    assert not is_image_name("._000.png") and not is_image_name(".hidden.png")  # macOS resource forks, dotfiles
    assert not is_image_name("notes.txt") and not is_image_name("png")
    only_png = normalise_extensions(["PNG"])
    assert is_image_name("x.png", only_png) and not is_image_name("x.jpg", only_png)
    # the ingestion listing follows it, with the extensions normalised once (no leading dot, any case)
    from metal_pipeline.data.mvtec import list_images

    for name in ("b.PNG", "a.png", "._a.png", "c.jpg", "d.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_images(tmp_path, ["png"])] == ["a.png", "b.PNG"]
