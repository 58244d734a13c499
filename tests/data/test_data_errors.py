"""Every bad-input case raises DataError naming the file or folder and saying how to fix it."""

from __future__ import annotations

import shutil

import pytest
from PIL import Image
from synthetic import save_image, synthetic_picture

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.ingest import ingest_class


def run(root, name, **overrides):
    return ingest_class(name, {"data_root": str(root), "class_paths": {}, "img_size": 24, **overrides}, seed=0)


def message(excinfo) -> str:
    return " ".join(str(excinfo.value).split())


def test_unknown_class_lists_the_classes_found(mvtec_rgb, mvtec_gray):
    with pytest.raises(DataError) as err:
        run(mvtec_rgb.parent, "screw", class_paths={"head_ct": str(mvtec_rgb)})
    text = message(err)
    assert "Unknown class 'screw'" in text
    assert "gadget, head_ct, widget" in text
    assert "--params class=" in text


def test_missing_data_root(tmp_path):
    with pytest.raises(DataError) as err:
        run(tmp_path / "nowhere", "bottle")
    assert str(tmp_path / "nowhere") in message(err) and "ingestion.data_root" in message(err)


def test_class_path_that_does_not_exist(tmp_path):
    with pytest.raises(DataError) as err:
        run(tmp_path, "head_ct", class_paths={"head_ct": str(tmp_path / "ct")})
    assert "ingestion.class_paths.head_ct" in message(err) and str(tmp_path / "ct") in message(err)


@pytest.mark.parametrize("bad", ["../etc", "a/b", ""])
def test_class_name_must_be_a_plain_folder_name(tmp_path, bad):
    with pytest.raises(DataError, match="plain folder name"):
        run(tmp_path, bad)


def test_missing_train_good(mvtec_rgb):
    shutil.rmtree(mvtec_rgb / "train" / "good")
    (mvtec_rgb / "train" / "ok").mkdir()
    with pytest.raises(DataError) as err:
        run(mvtec_rgb.parent, "widget")
    assert f"Folder '{mvtec_rgb / 'train' / 'good'}' is missing" in message(err)
    assert "train/good" in message(err) and "Fix" in message(err)


def test_folder_with_neither_layout(mvtec_rgb):
    shutil.rmtree(mvtec_rgb / "train")
    with pytest.raises(DataError) as err:
        run(mvtec_rgb.parent, "widget")
    assert str(mvtec_rgb) in message(err) and "train/good" in message(err) and "labels.csv" in message(err)


def test_missing_test_folder(mvtec_rgb):
    shutil.rmtree(mvtec_rgb / "test")
    with pytest.raises(DataError) as err:
        run(mvtec_rgb.parent, "widget")
    assert f"Folder '{mvtec_rgb / 'test'}' is missing" in message(err)


def test_empty_test_folder(mvtec_rgb):
    for d in (mvtec_rgb / "test").iterdir():
        shutil.rmtree(d)
    with pytest.raises(DataError, match="contains no images"):
        run(mvtec_rgb.parent, "widget")


def test_empty_train_set(mvtec_rgb):
    for f in (mvtec_rgb / "train" / "good").iterdir():
        f.unlink()
    (mvtec_rgb / "train" / "good" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError) as err:
        run(mvtec_rgb.parent, "widget")
    assert f"Training folder '{mvtec_rgb / 'train' / 'good'}' contains no images" in message(err)
    assert "ingestion.extensions" in message(err)


@pytest.mark.parametrize("where", ["train/good/002.png", "test/hole/000.png", "ground_truth/crack/000_mask.png"])
def test_truncated_image_or_mask(mvtec_rgb, where):
    path = mvtec_rgb / where
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DataError) as err:
        run(mvtec_rgb.parent, "widget")
    assert str(path) in message(err) and "truncated" in message(err) and "Fix" in message(err)


def test_garbage_with_image_extension(mvtec_rgb):
    path = mvtec_rgb / "train" / "good" / "zzz.bmp"
    path.write_bytes(b"BM but not really")
    with pytest.raises(DataError) as err:
        run(mvtec_rgb.parent, "widget")
    assert str(path) in message(err)


def test_anomalous_image_without_mask(mvtec_rgb):
    (mvtec_rgb / "ground_truth" / "hole" / "001_mask.png").unlink()
    with pytest.raises(DataError) as err:
        run(mvtec_rgb.parent, "widget")
    text = message(err)
    assert "1 anomalous test image(s) have no ground-truth mask" in text
    assert str(mvtec_rgb / "test" / "hole" / "001.jpg") in text
    assert str(mvtec_rgb / "ground_truth" / "hole" / "001_mask.png") in text
    assert "Fix" in text


def test_missing_ground_truth_folder(mvtec_rgb):
    shutil.rmtree(mvtec_rgb / "ground_truth")
    with pytest.raises(DataError, match="4 anomalous test image"):
        run(mvtec_rgb.parent, "widget")


def test_mask_size_differs_from_image(mvtec_rgb):
    mask = mvtec_rgb / "ground_truth" / "crack" / "000_mask.png"
    Image.open(mask).resize((20, 20)).save(mask)
    with pytest.raises(DataError) as err:
        run(mvtec_rgb.parent, "widget")
    text = message(err)
    assert f"Mask '{mask}' is 20x20" in text and str(mvtec_rgb / "test" / "crack" / "000.png") in text
    assert "48x48" in text and "Fix" in text


def test_colliding_stems(mvtec_rgb):
    save_image(synthetic_picture(48, 48), mvtec_rgb / "train" / "good" / "000.bmp")
    with pytest.raises(DataError, match="same name stem"):
        run(mvtec_rgb.parent, "widget")
