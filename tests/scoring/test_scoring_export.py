"""export_anomaly_maps / read_anomaly_maps: official layout, exact round trip, atomic."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from metal_pipeline.scoring import export_anomaly_maps, image_stem, read_anomaly_maps
from metal_pipeline.scoring import export as export_module


def _maps(n=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 6, 9)).astype(np.float32)


def test_layout_and_exact_round_trip(tmp_path):
    maps = _maps()
    names = ["broken_large/000", "good/001", "contamination/012"]
    defects = ["broken_large", "good", "contamination"]
    paths = export_anomaly_maps(maps, names, defects, tmp_path, "bottle")
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "anomaly_maps/bottle/test/broken_large/000.tiff",
        "anomaly_maps/bottle/test/good/001.tiff",
        "anomaly_maps/bottle/test/contamination/012.tiff",
    ]
    for p, m in zip(paths, maps):
        raw = tifffile.imread(p)
        assert raw.dtype == np.float32
        np.testing.assert_array_equal(raw, m)  # bit-exact
    back = read_anomaly_maps(tmp_path, "bottle")
    assert list(back) == sorted(names)
    for name, m in zip(names, maps):
        np.testing.assert_array_equal(back[name], m)
    # no temporary files left behind
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".tiff"]


def test_ragged_maps_and_float64_input(tmp_path):
    maps = [np.linspace(0, 1, 20).reshape(4, 5), np.ones((7, 3))]
    export_anomaly_maps(maps, ["a/0", "good/1"], ["a", "good"], tmp_path, "wood")
    back = read_anomaly_maps(tmp_path, "wood")
    np.testing.assert_array_equal(back["a/0"], maps[0].astype(np.float32))
    assert back["good/1"].shape == (7, 3)


def test_image_stem():
    assert image_stem("broken_large/000") == "000"
    assert image_stem("good/001.png") == "001"
    assert image_stem("007") == "007"


def test_duplicates_and_mismatches_raise(tmp_path):
    maps = _maps(2)
    with pytest.raises(ValueError, match="same file"):
        export_anomaly_maps(maps, ["x/000", "y/000"], ["crack", "crack"], tmp_path, "tile")
    with pytest.raises(ValueError, match="2 maps"):
        export_anomaly_maps(maps, ["x/000"], ["crack"], tmp_path, "tile")
    with pytest.raises(ValueError, match="bad class_name"):
        export_anomaly_maps(maps, ["a/0", "a/1"], ["a", "a"], tmp_path, "../evil")
    with pytest.raises(FileNotFoundError):
        read_anomaly_maps(tmp_path, "nothing")


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    first = _maps(1, seed=1)
    (path,) = export_anomaly_maps(first, ["crack/000"], ["crack"], tmp_path, "tile")

    def broken_imwrite(target, data, **kwargs):
        with open(target, "wb") as fh:
            fh.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(export_module.tifffile, "imwrite", broken_imwrite)
    with pytest.raises(OSError, match="disk full"):
        export_anomaly_maps(_maps(1, seed=2), ["crack/000"], ["crack"], tmp_path, "tile")
    np.testing.assert_array_equal(tifffile.imread(path), first[0])
    assert sorted(p.name for p in path.parent.iterdir()) == ["000.tiff"]
