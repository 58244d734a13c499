"""MVTec-layout reading, channel rule, validation hold-out and ingest_class end to end (synthetic)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from synthetic import defect_region

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.ingest import IngestionConfig, detect_layout, ingest_class
from metal_pipeline.data.mvtec import scan_mvtec
from metal_pipeline.data.splits import holdout_indices, holdout_size


def params(root, **overrides):
    return {"data_root": str(root), "class_paths": {}, "img_size": 32, **overrides}


def test_scan_order_names_and_masks(mvtec_rgb):
    train, test = scan_mvtec(mvtec_rgb)
    assert [r.name for r in train] == [f"good/{i:03d}" for i in range(6)]
    assert [r.name for r in test] == ["crack/000", "crack/001", "good/000", "good/001", "hole/000", "hole/001"]
    assert [r.label for r in test] == [1, 1, 0, 0, 1, 1]
    for r in test:
        if r.label:
            assert r.mask_path == mvtec_rgb / "ground_truth" / r.defect / f"{r.path.stem}_mask.png"
        else:
            assert r.mask_path is None
    assert {r.path.suffix for r in train} == {".png", ".jpg"}


def test_ingest_rgb_category(mvtec_rgb, caplog):
    caplog.set_level(logging.INFO, logger="metal_pipeline")
    train, val, test = ingest_class("widget", params(mvtec_rgb.parent), seed=0)
    assert (len(train), len(val), len(test)) == (5, 1, 6)
    for s in (train, val, test):
        assert s.images.dtype == np.uint8 and s.images.shape[1:] == (3, 32, 32)
    assert train.masks is None and val.masks is None
    assert test.masks.shape == (6, 32, 32)
    assert set(np.unique(test.masks)) == {0, 1}
    good = np.array([d == "good" for d in test.defects])
    assert not test.masks[good].any() and all(test.masks[~good].reshape(4, -1).any(axis=1))
    assert list(test.labels) == [1, 1, 0, 0, 1, 1]
    assert test.mask_paths[2] == "" and test.mask_paths[0].endswith("crack/000_mask.png")
    # original (height, width) kept: sizes cycle 48x48, 56x40 (w x h) inside each folder
    assert test.original_sizes.tolist() == [[48, 48], [40, 56]] * 3
    assert set(train.names) | set(val.names) == {f"good/{i:03d}" for i in range(6)}
    assert not set(train.names) & set(val.names)
    assert all(p.startswith(str(mvtec_rgb)) for p in test.source_paths)
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("widget test:")]
    assert summary == ["widget test: 6 images (good 2, crack 2, hole 2), 3 channel(s), 32x32, with masks"]


def test_mask_pixels_follow_the_image_geometry(make_mvtec):
    cat = make_mvtec("big", n_train=2, n_test_good=1, defects={"scratch": 1}, sizes=[(90, 60)])
    _, _, test = ingest_class("big", params(cat.parent, img_size=30), seed=0)
    i = test.names.index("scratch/000")
    # expected: the source region mapped to 30x30 (x / 3, y / 2)
    expected = np.zeros((30, 30), np.uint8)
    src = defect_region(90, 60)
    ys, xs = np.nonzero(src)
    expected[ys.min() // 2: (ys.max() + 1) // 2, xs.min() // 3: (xs.max() + 1) // 3] = 1
    assert (test.masks[i] != expected).sum() <= 2 * 30 * 0.2  # only boundary pixels may differ


def test_channels_auto_gray_category_gives_one_channel(mvtec_gray):
    train, val, test = ingest_class("gadget", params(mvtec_gray.parent), seed=0)
    assert train.channels == val.channels == test.channels == 1


def test_channels_auto_any_colour_training_image_gives_three(make_mvtec):
    cat = make_mvtec("mixed", mode=["L", "L", "RGB"], ext=".png")
    assert ingest_class("mixed", params(cat.parent), seed=0).train.channels == 3


def test_channels_auto_gray_content_stored_as_rgb_gives_one_channel(make_mvtec):
    """CT slices saved as RGB with three equal channels hold one channel of information."""
    from PIL import Image

    cat = make_mvtec("rgbgray", mode="L", n_train=3, ext=".png")
    for path in sorted((cat / "train" / "good").iterdir()):
        with Image.open(path) as img:
            img.convert("RGB").save(path)
        with Image.open(path) as img:
            assert img.mode == "RGB"
    splits = ingest_class("rgbgray", params(cat.parent), seed=0)
    assert splits.train.channels == 1
    gray = ingest_class("rgbgray", params(cat.parent, channels=1), seed=0)
    np.testing.assert_array_equal(splits.train.images, gray.train.images)


def test_channels_auto_ignores_test_images(make_mvtec):
    """The rule looks at training images only: gray train + colour test -> 1 channel."""
    cat = make_mvtec("graytrain", mode="L", n_train=3)
    from synthetic import save_image, synthetic_picture
    save_image(synthetic_picture(48, 48, "RGB"), cat / "test" / "good" / "009.png")
    splits = ingest_class("graytrain", params(cat.parent), seed=0)
    assert splits.test.channels == 1 and len(splits.test) == 7


def test_channels_override(mvtec_rgb, mvtec_gray):
    assert ingest_class("widget", params(mvtec_rgb.parent, channels=1), seed=0).train.channels == 1
    assert ingest_class("gadget", params(mvtec_gray.parent, channels="3"), seed=0).test.channels == 3


def test_class_channels_overrides_channels_for_its_class_only(mvtec_rgb):
    """Head CT: a per-class setting (1) beats auto, which reads tinted slices as colour."""
    by_class = params(mvtec_rgb.parent)
    by_class["class_channels"] = {"widget": 1}
    assert ingest_class("widget", by_class, seed=0).train.channels == 1
    by_class["class_channels"] = {"other": 1}
    assert ingest_class("widget", by_class, seed=0).train.channels == 3
    by_class["class_channels"] = {"widget": 2}
    with pytest.raises(DataError, match="channels"):
        ingest_class("widget", by_class, seed=0)


def test_class_channels_is_part_of_the_split_key():
    from metal_pipeline.run_identity import split_name

    base = {"class": "head_ct", "seed": 0, "ingestion": {"channels": "auto", "img_size": 128}}
    per_class = {**base, "ingestion": {**base["ingestion"], "class_channels": {"head_ct": 1}}}
    other = {**base, "ingestion": {**base["ingestion"], "class_channels": {"bottle": 1}}}
    assert split_name(per_class) != split_name(base)
    assert split_name(other) == split_name(base)


def test_extensions_case_insensitive_and_exotic_modes(make_mvtec):
    cat = make_mvtec("odd", n_train=6, mode=["RGBA", "P", "LA", "I;16", "RGB", "L"],
                     ext=[".PNG", ".Png", ".TIFF", ".tif", ".BMP", ".JPEG"], mask_ext=".PNG")
    splits = ingest_class("odd", params(cat.parent), seed=0)
    assert len(splits.train) + len(splits.val) == 6
    assert len(splits.test) == 6 and splits.train.channels == 3


def test_other_files_are_ignored(mvtec_rgb):
    (mvtec_rgb / "train" / "good" / "notes.txt").write_text("x")
    (mvtec_rgb / "train" / "good" / ".DS_Store").write_bytes(b"\0\1")
    train, _ = scan_mvtec(mvtec_rgb)
    assert len(train) == 6


def test_split_is_deterministic_and_seeded(make_mvtec):
    cat = make_mvtec("many", n_train=30, n_test_good=1, defects={"crack": 1}, sizes=[(16, 16)])
    a = ingest_class("many", params(cat.parent, img_size=16), seed=7)
    b = ingest_class("many", params(cat.parent, img_size=16), seed=7)
    c = ingest_class("many", params(cat.parent, img_size=16), seed=8)
    assert a.val.names == b.val.names and a.train.names == b.train.names
    np.testing.assert_array_equal(a.train.images, b.train.images)
    assert a.val.names != c.val.names
    assert len(a.val) == 3 and len(a.train) == 27
    assert a.train.names == sorted(a.train.names)  # order kept inside each split


@pytest.mark.parametrize(("n", "fraction", "expected"),
                         [(0, 0.1, 0), (1, 0.1, 0), (2, 0.1, 1), (9, 0.1, 1), (209, 0.1, 21), (10, 0.95, 9)])
def test_holdout_size(n, fraction, expected):
    train_idx, val_idx = holdout_indices(n, fraction, seed=0)
    assert len(val_idx) == expected == holdout_size(n, fraction)
    assert sorted(np.concatenate([train_idx, val_idx]).tolist()) == list(range(n))


def test_single_training_image_gives_empty_validation(make_mvtec):
    cat = make_mvtec("solo", n_train=1)
    splits = ingest_class("solo", params(cat.parent), seed=0)
    assert len(splits.train) == 1 and len(splits.val) == 0
    assert splits.val.images.shape == (0, 3, 32, 32)


def test_detect_layout(mvtec_rgb, make_labelled, tmp_path):
    assert detect_layout(mvtec_rgb) == "mvtec"
    assert detect_layout(make_labelled()) == "labelled"
    with pytest.raises(DataError, match="neither"):
        detect_layout(tmp_path)


def test_config_defaults_and_validation():
    cfg = IngestionConfig.from_params({})
    assert cfg.img_size == 128 and cfg.channels == "auto" and cfg.val_fraction == 0.1
    assert str(cfg.class_paths["head_ct"]) == "data/01_raw/head_ct"
    assert IngestionConfig.from_params({"extensions": ["PNG", ".Jpg"]}).extensions == (".png", ".jpg")
    for bad, pattern in [({"img_sze": 64}, r"ingestion\.img_sze"), ({"channels": 2}, "1, 3 or auto"),
                         ({"val_fraction": 0}, "between 0 and 1"), ({"img_size": "big"}, "img_size"),
                         ({"head_ct": {"n_train": 3}}, r"ingestion\.head_ct\.n_train"),
                         ({"extensions": ".png"}, "extensions")]:
        with pytest.raises(DataError, match=pattern):
            IngestionConfig.from_params(bad)
