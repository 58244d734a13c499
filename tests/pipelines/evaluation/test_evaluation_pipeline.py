"""The ``evaluation`` pipeline in process (SequentialRunner, MemoryDatasets): maps that mark exactly the
defects score 1 on every metric and inverted maps 0; a detector's maps at the masks' original size give
every metric key, per defect type, in range; the figures are drawn."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from in_memory import DEFECTS, memory_catalog, synthetic_splits, tiny_parameters, untrained_detector
from metal_pipeline import run_identity
from metal_pipeline.data.errors import DataError
from metal_pipeline.datasets import MaskFolderDataset
from metal_pipeline.metrics.report import ALL_DEFECTS, FRAME_COLUMNS, metric_names
from metal_pipeline.pipelines.evaluation import create_pipeline
from metal_pipeline.pipelines.heatmaps.nodes import score_test_set
from metal_pipeline.scoring.ground_truth import masks_and_maps

OUTPUTS = ("metrics", "metrics_table", "reconstruction_panel", "roc_curve", "per_defect_bars")
#: Decision metrics at the stored threshold; the other fractions besides the report's ranking metrics.
DECISIONS = ("image_precision_at_threshold", "image_recall_at_threshold", "image_f1_at_threshold")


def run_evaluation(params, test_set, test_scores):
    catalog = memory_catalog(params, test_scores=test_scores, test_set=test_set, **dict.fromkeys(OUTPUTS))
    # the original-size masks through the project's own dataset type, over the synthetic class's folder
    catalog["raw_masks"] = MaskFolderDataset(folder=run_identity.class_folder(params))
    SequentialRunner().run(create_pipeline(), catalog)
    out = {name: catalog.load(name) for name in OUTPUTS}
    plt.close("all")
    return out


def mask_scores(test_set, maps):
    """``test_scores`` as the heatmaps pipeline hands them on, for given maps (image score: the map's
    mean); the threshold halfway between the highest normal and the lowest anomalous image score."""
    scores = maps.reshape(len(maps), -1).mean(axis=1).astype(np.float64)
    threshold = (scores[test_set.labels == 0].max() + scores[test_set.labels == 1].min()) / 2
    return {"reconstructions": test_set.as_float(), "maps": maps.astype(np.float32), "scores": scores,
            "threshold": np.array(threshold)}


def ranking_metrics(max_fpr):
    return {*metric_names(max_fpr).values(), "pixel_auroc", "pixel_f1_max", "image_auroc"}


@pytest.fixture
def params(tmp_path):
    return tiny_parameters(tmp_path, **{"evaluation.resolution": "model"})


def test_pipeline_contract():
    pipe = create_pipeline()
    assert {"test_scores", "test_set", "raw_masks", "params:evaluation"} < pipe.inputs()
    assert pipe.outputs() == set(OUTPUTS) - {"metrics_table"}  # the table feeds the figures too


def test_maps_marking_the_defects_score_one(params, no_mlflow):
    test = synthetic_splits(params)[2]
    out = run_evaluation(params, test, mask_scores(test, test.masks))
    overall = out["metrics"]["overall"]
    for metric in ranking_metrics(params["evaluation"]["max_fpr"]) | set(DECISIONS):
        assert overall[metric] == pytest.approx(1.0), metric
    for defect, values in out["metrics"]["per_defect"].items():
        assert values["pixel_auroc"] == pytest.approx(1.0) and values["image_auroc"] == 1.0, defect


def test_inverted_maps_score_zero(params, no_mlflow):
    test = synthetic_splits(params)[2]
    overall = run_evaluation(params, test, mask_scores(test, 1 - test.masks))["metrics"]["overall"]
    assert overall["pixel_auroc"] == pytest.approx(0.0) and overall["image_auroc"] == 0.0
    assert overall[metric_names(params["evaluation"]["max_fpr"])["pauroc"]] == pytest.approx(0.0)


def test_detector_maps_at_original_resolution(tmp_path, no_mlflow):
    params = tiny_parameters(tmp_path)  # the configured resolution: each mask's own size
    assert params["evaluation"]["resolution"] == "original"
    splits = synthetic_splits(params)
    test = splits[2]
    detector, _ = untrained_detector(params, splits)
    out = run_evaluation(params, test, score_test_set(detector, test, params["heatmaps"]))

    report = out["metrics"]
    assert (report["class"], report["configuration"], report["masking"], report["resolution"]) == (
        params["class"], params["config"], params["masking"], "original")
    ranking = ranking_metrics(params["evaluation"]["max_fpr"])
    counts = {"n_images", "n_anomalous"}
    assert set(report["overall"]) == ranking | counts | {"pixel_f1_threshold", *DECISIONS, "n_flagged_at_threshold"}
    assert (report["overall"]["n_images"], report["overall"]["n_anomalous"]) == (len(test), sum(DEFECTS.values()))
    assert list(report["per_defect"]) == sorted(DEFECTS)
    n_good = int(np.sum(test.labels == 0))
    for defect, values in report["per_defect"].items():
        assert set(values) == ranking | counts | {"pixel_f1_threshold"}
        assert (values["n_images"], values["n_anomalous"]) == (n_good + DEFECTS[defect], DEFECTS[defect])
    for values in (report["overall"], *report["per_defect"].values()):
        for metric in ranking | set(DECISIONS) & set(values):
            assert np.isfinite(values[metric]) and 0.0 <= values[metric] <= 1.0, metric

    table = out["metrics_table"]
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == [*FRAME_COLUMNS[:2], "masking", *FRAME_COLUMNS[2:]]
    overall = table[table["defect"] == ALL_DEFECTS].set_index("metric")["value"]
    assert overall.to_dict() == pytest.approx({k: float(v) for k, v in report["overall"].items()})
    assert set(table["defect"]) == {ALL_DEFECTS, *DEFECTS}
    for figure in ("reconstruction_panel", "roc_curve", "per_defect_bars"):
        assert isinstance(out[figure], Figure) and out[figure].axes, figure


def test_raw_masks_are_the_split_masks_at_their_own_size(tmp_path):
    """``raw_masks`` (the catalog entry) holds each defective test image's mask at its file's size, equal to
    the split's model-resolution mask once resized; a mask the split names but the folder lost is a clear error."""
    params = tiny_parameters(tmp_path)
    test = synthetic_splits(params)[2]
    raw = MaskFolderDataset(folder=run_identity.class_folder(params)).load()
    masks, _ = masks_and_maps(test, test.masks.astype(np.float32), "original", raw)
    defective = [i for i, path in enumerate(test.mask_paths) if path]
    assert len(raw) == len(defective) == sum(DEFECTS.values())
    for i, mask in enumerate(masks):
        assert mask.dtype == np.uint8 and mask.shape == tuple(int(s) for s in test.original_sizes[i])
        assert (mask.any() if i in defective else not mask.any())
    assert MaskFolderDataset(folder=str(tmp_path / "no_such_class")).load() == {}  # no pixel labels: no masks
    first = test.mask_paths[defective[0]]
    with pytest.raises(DataError, match="ground-truth mask .* moved or deleted"):
        masks_and_maps(test, test.masks, "original", {k: v for k, v in raw.items() if not k.endswith(first[-12:])})
