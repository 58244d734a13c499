"""score_folder: same scores as evaluation, outputs at input size, bad input handling, thresholds."""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image

from _predict_helpers import tiny_detector, truncate
from metal_pipeline.data.errors import DataError
from metal_pipeline.data.images import load_image
from metal_pipeline.data.ingest import ingest_class
from metal_pipeline.inference.folder_listing import list_image_files
from metal_pipeline.inference.predict_folder import ANOMALOUS, COLUMNS, NORMAL, score_folder
from metal_pipeline.inference.prepared_image import ChannelMismatchError, prepare_image
from metal_pipeline.scoring import resize_maps
from batch_tolerance import assert_close_across_batch_sizes
from synthetic import save_image, synthetic_picture


def _folder(root: Path, specs: dict[str, tuple[str, tuple[int, int]]]) -> Path:
    """Write ``{relative path: (mode, (width, height))}`` synthetic pictures under ``root``."""
    for i, (rel, (mode, size)) in enumerate(specs.items()):
        save_image(synthetic_picture(*size, mode=mode, seed=i, defect=i % 2 == 1), root / rel)
    return root


def _name(path: str) -> str:
    return str(PurePosixPath(path).with_suffix(""))


def test_scores_equal_the_evaluation_path_bit_for_bit(mvtec_rgb, tmp_path):
    """Ingestion + detector.score (what the heatmaps pipeline does) vs score_folder on the test folder,
    with a different batch size, mixed PNG/JPEG and mixed sizes: identical scores, maps and sizes."""
    test_set = ingest_class("widget", {"data_root": str(mvtec_rgb.parent), "img_size": 32, "class_paths": {}}).test
    detector = tiny_detector(channels=test_set.channels)
    reference = detector.score(test_set.images, batch_size=32)
    detector.threshold = float(np.median(reference.scores))
    reference = detector.score(test_set.images, batch_size=32)

    table = score_folder(detector, mvtec_rgb / "test", tmp_path / "out", batch_size=3)

    assert list(table.columns) == list(COLUMNS)
    assert (table["error"] == "").all()
    by_name = table.set_index(table["path"].map(_name))
    assert sorted(by_name.index) == sorted(test_set.names)
    rows = by_name.loc[test_set.names]
    np.testing.assert_array_equal(rows["score"].to_numpy(dtype=np.float64), reference.scores)
    np.testing.assert_array_equal(rows[["height", "width"]].to_numpy(dtype=np.int64), test_set.original_sizes)
    assert list(rows["decision"]) == [ANOMALOUS if d else NORMAL for d in reference.decisions]
    assert set(rows["decision"]) == {ANOMALOUS, NORMAL}
    expected_maps = resize_maps(reference.maps, test_set.original_sizes)
    for heat_path, expected in zip(rows["heatmap"], expected_maps):
        assert_close_across_batch_sizes(tifffile.imread(heat_path), expected)


def test_prepare_image_gives_ingestion_pixels_for_every_mode(tmp_path):
    specs = {f"{mode.replace(';', '')}.png": (mode, (37, 29)) for mode in ("RGB", "L", "RGBA", "LA", "P", "I;16")}
    specs["photo.jpg"] = ("RGB", (50, 31))
    _folder(tmp_path, specs)
    for rel in specs:
        path = tmp_path / rel
        prepared = prepare_image(path, 32, 3)
        np.testing.assert_array_equal(prepared.pixels, load_image(path, 32, 3))
        assert (prepared.width, prepared.height) == Image.open(path).size
        assert prepared.display.shape == (prepared.height, prepared.width, 3)
        assert prepared.display.dtype == np.uint8
        np.testing.assert_array_equal(prepare_image(path, 32, 1, gray_from_color=True).pixels, load_image(path, 32, 1))


def test_outputs_mirror_the_input_tree_at_each_input_size(detector, tmp_path):
    src = _folder(tmp_path / "in", {"a/x.png": ("RGB", (48, 48)), "a/b/y.jpg": ("RGB", (56, 40)),
                                    "z.bmp": ("L", (33, 61))})
    table = score_folder(detector, src, tmp_path / "out", batch_size=2)

    assert list(table["path"]) == ["a/b/y.jpg", "a/x.png", "z.bmp"]
    for row in table.itertuples():
        size = Image.open(src / row.path).size
        assert (row.width, row.height) == size
        heat = tifffile.imread(row.heatmap)
        assert Path(row.heatmap) == tmp_path / "out" / "heatmaps" / PurePosixPath(row.path).with_suffix(".tiff")
        assert heat.dtype == np.float32 and heat.shape == (size[1], size[0])
        assert heat.max() <= row.score + 1e-6  # bilinear resizing never exceeds the model-resolution maximum
        with Image.open(row.overlay) as overlay:
            assert Path(row.overlay) == tmp_path / "out" / "overlays" / PurePosixPath(row.path).with_suffix(".png")
            assert overlay.format == "PNG" and overlay.mode == "RGB" and overlay.size == size
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_batch_size_does_not_change_scores(detector, mvtec_rgb, tmp_path):
    one = score_folder(detector, mvtec_rgb / "test", tmp_path / "a", batch_size=1)
    many = score_folder(detector, mvtec_rgb / "test", tmp_path / "b", batch_size=5)
    np.testing.assert_array_equal(one["score"].to_numpy(), many["score"].to_numpy())


def test_unreadable_files_are_listed_and_the_batch_goes_on(detector, tmp_path, caplog):
    src = _folder(tmp_path / "in", {f"{i}.png": ("RGB", (40, 40)) for i in range(4)})
    truncate(src / "1.png")
    (src / "2.png").write_text("not an image")
    with caplog.at_level(logging.WARNING, logger="metal_pipeline"):
        table = score_folder(detector, src, tmp_path / "out", batch_size=2)

    assert list(table["path"]) == ["0.png", "1.png", "2.png", "3.png"]
    bad = table.set_index("path").loc[["1.png", "2.png"]]
    assert all(str(src / p) in e for p, e in zip(bad.index, bad["error"]))
    assert bad["score"].isna().all() and bad["width"].isna().all() and (bad["heatmap"] == "").all()
    good = table.set_index("path").loc[["0.png", "3.png"]]
    assert (good["error"] == "").all() and good["score"].notna().all()
    np.testing.assert_array_equal(
        good["score"].to_numpy(), detector.score(np.stack([load_image(src / p, 32, 3) for p in good.index])).scores)
    assert not (tmp_path / "out" / "heatmaps" / "1.tiff").exists()
    assert "1.png" in caplog.text and "2.png" in caplog.text


def test_colour_image_for_a_gray_model_is_refused_with_a_clear_message(gray_detector, tmp_path, caplog):
    src = _folder(tmp_path / "in", {"gray.png": ("L", (40, 40)), "colour.png": ("RGB", (40, 40))})
    gray_as_rgb = Image.open(src / "gray.png").convert("RGB")
    gray_as_rgb.save(src / "gray_rgb.png")
    with caplog.at_level(logging.WARNING, logger="metal_pipeline"):
        table = score_folder(gray_detector, src, tmp_path / "out").set_index("path")

    error = table.loc["colour.png", "error"]
    assert "colour image" in error and "1-channel" in error and "gray_from_color" in error
    assert str(src / "colour.png") in error and error in caplog.text
    assert table.loc["gray.png", "error"] == "" and table.loc["gray_rgb.png", "error"] == ""
    assert table.loc["gray.png", "score"] == table.loc["gray_rgb.png", "score"]  # same gray picture
    with pytest.raises(ChannelMismatchError):
        prepare_image(src / "colour.png", 32, 1)

    converted = score_folder(gray_detector, src, tmp_path / "out2", gray_from_color=True).set_index("path")
    assert (converted["error"] == "").all()
    expected = gray_detector.score(np.stack([load_image(src / "colour.png", 32, 1)])).scores[0]
    assert converted.loc["colour.png", "score"] == expected


def test_gray_image_for_an_rgb_model_is_replicated_like_ingestion(detector, tmp_path):
    src = _folder(tmp_path / "in", {"gray.png": ("L", (40, 36))})
    table = score_folder(detector, src, tmp_path / "out")
    pixels = load_image(src / "gray.png", 32, 3)
    assert (pixels[0] == pixels[1]).all() and (pixels[1] == pixels[2]).all()
    assert table.loc[0, "score"] == detector.score(np.stack([pixels])).scores[0]


def test_missing_and_empty_folders_name_the_folder(detector, tmp_path):
    with pytest.raises(DataError, match="does not exist") as missing:
        score_folder(detector, tmp_path / "nope", tmp_path / "out")
    assert str(tmp_path / "nope") in str(missing.value)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("x")
    (tmp_path / "empty" / ".hidden.png").write_bytes(b"")
    with pytest.raises(DataError, match="contains no images") as empty:
        score_folder(detector, tmp_path / "empty", tmp_path / "out")
    assert str(tmp_path / "empty") in str(empty.value)
    assert not (tmp_path / "out").exists()


def test_every_file_failing_raises_a_summary(gray_detector, tmp_path):
    src = _folder(tmp_path / "in", {"a.png": ("RGB", (40, 40)), "b.png": ("RGB", (40, 40))})
    (src / "c.jpg").write_bytes(b"\xff\xd8 not really")
    with pytest.raises(DataError, match=r"None of the 3 image file\(s\)") as err:
        score_folder(gray_detector, src, tmp_path / "out")
    assert "2 channel mismatch" in str(err.value) and "1 unreadable" in str(err.value)


def test_threshold_from_the_model_or_overridden(detector, tmp_path, caplog):
    src = _folder(tmp_path / "in", {f"{i}.png": ("RGB", (40, 40)) for i in range(6)})
    with caplog.at_level(logging.WARNING, logger="metal_pipeline"):
        no_threshold = score_folder(detector, src, tmp_path / "out")
    assert (no_threshold["decision"] == "").all() and no_threshold["threshold"].isna().all()
    assert "No decision threshold" in caplog.text

    scores = no_threshold["score"].to_numpy()
    stored = float(np.sort(scores)[1])  # an observed score: equal is normal (score > threshold is anomalous)
    detector.threshold = stored
    from_model = score_folder(detector, src, tmp_path / "out")
    assert (from_model["threshold"] == stored).all()
    assert list(from_model["decision"]) == [ANOMALOUS if s > stored else NORMAL for s in scores]
    assert list(from_model["decision"] == ANOMALOUS) == list(detector.score(
        np.stack([load_image(src / p, 32, 3) for p in from_model["path"]])).decisions)
    assert (from_model["decision"] == NORMAL).sum() == 2

    override = float(scores.max())
    overridden = score_folder(detector, src, tmp_path / "out", threshold=override)
    assert (overridden["threshold"] == override).all() and (overridden["decision"] == NORMAL).all()
    assert detector.threshold == stored  # the override does not touch the model


def test_output_folder_inside_the_input_is_not_scored_again(detector, tmp_path):
    src = _folder(tmp_path / "in", {"a.png": ("RGB", (40, 40)), "b.png": ("RGB", (40, 40))})
    first = score_folder(detector, src, src)
    second = score_folder(detector, src, src)
    assert list(first["path"]) == list(second["path"]) == ["a.png", "b.png"]
    assert list_image_files(src, exclude=[src / "heatmaps", src / "overlays"]) == [PurePosixPath("a.png"),
                                                                                  PurePosixPath("b.png")]
    assert len(list_image_files(src)) == 6  # without the exclusion the outputs would be read as images


def test_inputs_sharing_a_stem_keep_their_extension(detector, tmp_path):
    src = _folder(tmp_path / "in", {"a.png": ("RGB", (40, 40)), "a.jpg": ("RGB", (40, 40)), "b.png": ("L", (40, 40))})
    table = score_folder(detector, src, tmp_path / "out").set_index("path")
    assert Path(table.loc["a.jpg", "heatmap"]).name == "a.jpg.tiff"
    assert Path(table.loc["a.png", "overlay"]).name == "a.png.png"
    assert Path(table.loc["b.png", "heatmap"]).name == "b.tiff"
    assert table["heatmap"].is_unique


def test_csv_round_trip(detector, tmp_path):
    src = _folder(tmp_path / "in", {"a.png": ("RGB", (40, 40)), "b.png": ("RGB", (40, 40))})
    truncate(src / "b.png")
    table = score_folder(detector, src, tmp_path / "out", threshold=0.0)
    table.to_csv(tmp_path / "p.csv", index=False)
    back = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert list(back.columns) == list(COLUMNS)
    assert back.loc[0, "decision"] == ANOMALOUS and back.loc[1, "decision"] == ""
    assert back.loc[1, "error"].startswith("Image file") and back.loc[1, "width"] == ""


@pytest.mark.parametrize("bad", [0, -1, 2.5, "many", True, None])
def test_bad_batch_size_is_a_data_error(detector, tmp_path, bad):
    with pytest.raises(DataError, match="batch_size"):
        score_folder(detector, tmp_path, tmp_path / "out", batch_size=bad)
