"""The one-file datasets share SingleFileDataset: a round trip through the file, and loading one that
no pipeline has written yet is a DatasetError naming the file and what writes it."""

from __future__ import annotations

import numpy as np
import pytest
from kedro.io import DatasetError

from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.datasets import (DetectorDataset, ImageSetDataset, NpzArraysDataset, PngImageDataset,
                                     TiffMapDataset)
from metal_pipeline.datasets.single_file_dataset import SingleFileDataset

ONE_FILE = {ImageSetDataset: "split.npz", NpzArraysDataset: "scores.npz", DetectorDataset: "detector.pt",
            TiffMapDataset: "map.tiff", PngImageDataset: "overlay.png"}
#: what each error must point the user to
WRITTEN_BY = {ImageSetDataset: "--pipelines=ingestion", NpzArraysDataset: "the pipeline that writes it",
              DetectorDataset: "--pipelines=train_eval", TiffMapDataset: "heatmaps", PngImageDataset: "predict"}


@pytest.mark.parametrize("kind", list(ONE_FILE), ids=lambda kind: kind.__name__)
def test_a_file_not_written_yet_is_one_clear_error(tmp_path, kind):
    path = tmp_path / "run" / ONE_FILE[kind]
    dataset = kind(filepath=str(path))
    assert issubclass(kind, SingleFileDataset) and not dataset.exists()
    with pytest.raises(DatasetError, match="does not exist yet") as missing:
        dataset.load()
    assert str(path) in str(missing.value) and WRITTEN_BY[kind] in str(missing.value)
    assert dataset._describe() == {"filepath": path.as_posix()}


def test_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 3, 8, 8), dtype=np.uint8)
    split = ImageSet(images=images, names=["good/000", "crack/000"], defects=["good", "crack"], labels=[0, 1])
    saved = ImageSetDataset(filepath=str(tmp_path / "split.npz"))
    saved.save(split)
    loaded = saved.load()
    assert saved.exists() and np.array_equal(loaded.images, images) and loaded.names == split.names

    arrays = NpzArraysDataset(filepath=str(tmp_path / "scores.npz"))
    arrays.save({"image_scores": np.array([0.1, 0.9]), "absent": None})
    assert list(arrays.load()) == ["image_scores"] and arrays.load()["image_scores"].tolist() == [0.1, 0.9]

    anomaly_map = rng.random((8, 8)).astype(np.float32)
    tiff = TiffMapDataset(filepath=str(tmp_path / "map.tiff"))
    tiff.save(anomaly_map)
    assert np.array_equal(tiff.load(), anomaly_map)

    picture = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    png = PngImageDataset(filepath=str(tmp_path / "overlay.png"))
    png.save(picture)
    assert np.array_equal(png.load(), picture)
