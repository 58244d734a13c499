"""The ``heatmaps`` pipeline in process (SequentialRunner, MemoryDatasets; the TIFF maps through the
catalog's own ``anomaly_maps`` PartitionedDataset under a temporary folder): test scores, maps in the
official MVTec AD layout and their index, and the refusal to score another split's test set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.runner import SequentialRunner

from in_memory import CLASS, catalog_dataset, memory_catalog, synthetic_splits, tiny_config, untrained_detector
from metal_pipeline import run_identity
from metal_pipeline.errors import SplitMismatchError
from metal_pipeline.pipelines.heatmaps import create_pipeline
from metal_pipeline.scoring.export import TIFF_SUFFIX, anomaly_map_key

SCORE_KEYS = {"reconstructions", "maps", "scores", "threshold"}


def run_heatmaps(config, params, detector, summary, test_set):
    catalog = memory_catalog(params, anomaly_detector=detector, test_set=test_set, training_summary=summary,
                             test_scores=None, anomaly_map_index=None)
    catalog["anomaly_maps"] = catalog_dataset(config, "anomaly_maps")
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog.load("test_scores"), catalog.load("anomaly_map_index"), catalog


def test_pipeline_contract():
    pipe = create_pipeline()
    assert {"anomaly_detector", "test_set", "training_summary", "params:heatmaps"} < pipe.inputs()
    assert pipe.outputs() == {"anomaly_maps", "anomaly_map_index"}


@pytest.mark.parametrize("resolution", ["original", "model"])
def test_scores_and_exports_maps(tmp_path, no_mlflow, resolution):
    config = tiny_config(tmp_path, **{"heatmaps.export_resolution": resolution})
    params = dict(config["parameters"])
    splits = synthetic_splits(params)
    test = splits[2]
    detector, summary = untrained_detector(params, splits)

    scores, index, catalog = run_heatmaps(config, params, detector, summary, test)

    n, size = len(test), params["ingestion"]["img_size"]
    assert set(scores) == SCORE_KEYS
    assert scores["maps"].shape == (n, size, size) and scores["maps"].dtype == np.float32
    assert scores["reconstructions"].shape == test.images.shape and scores["reconstructions"].dtype == np.float32
    assert scores["scores"].shape == (n,)
    for key in ("maps", "reconstructions", "scores"):
        assert np.isfinite(scores[key]).all(), key
    expected = detector.score(test.images)  # the stored scoring rule, applied outside the pipeline
    np.testing.assert_array_equal(scores["scores"], expected.scores)
    np.testing.assert_array_equal(scores["maps"], expected.maps)
    assert float(scores["threshold"]) == detector.threshold

    # one float32 TIFF per test image at <root>/<run>/<scoring>/anomaly_maps/<class>/test/<defect>/<stem>.tiff
    root = Path(params["heatmaps"]["output_root"])
    folder = root / summary["run_name"] / run_identity.scoring_name(params)
    keys = [f"{folder.relative_to(root)}/{anomaly_map_key(CLASS, d, name)}" for name, d in zip(test.names, test.defects)]
    written = sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob(f"*{TIFF_SUFFIX}"))
    assert written == sorted(keys)
    partitions = catalog.load("anomaly_maps")  # read back through the catalog
    assert sorted(partitions) == sorted(keys)
    for i, key in enumerate(keys):
        tiff = partitions[key]()
        want = tuple(test.original_sizes[i]) if resolution == "original" else (size, size)
        assert tiff.shape == want and tiff.dtype == np.float32 and np.isfinite(tiff).all()
        if resolution == "model":
            np.testing.assert_array_equal(tiff, scores["maps"][i])

    assert isinstance(index, pd.DataFrame) and list(index["name"]) == test.names
    assert list(index["defect"]) == test.defects and list(index["label"]) == list(test.labels)
    np.testing.assert_array_equal(index["score"].to_numpy(), scores["scores"])
    assert [Path(p) for p in index["tiff"]] == [root / f"{k}{TIFF_SUFFIX}" for k in keys]
    assert list(index["source"]) == test.source_paths


def test_refuses_another_splits_test_set(tmp_path, no_mlflow):
    config = tiny_config(tmp_path)
    params = dict(config["parameters"])
    detector, summary = untrained_detector(params, synthetic_splits(params))
    other = synthetic_splits({**params, "ingestion": {**params["ingestion"], "data_root": str(tmp_path / "other")}},
                             data_seed=100)[2]  # same names and sizes, other pixels
    with pytest.raises(SplitMismatchError, match="nothing was scored"):
        run_heatmaps(config, params, detector, summary, other)
    assert not list(Path(params["heatmaps"]["output_root"]).rglob(f"*{TIFF_SUFFIX}"))
