"""evaluate_localization and report_to_frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metal_pipeline.metrics import (
    au_pro,
    auroc,
    evaluate_localization,
    f1_max,
    mcclish_partial_auroc,
    partial_auroc,
    report_to_frame,
)

PIXEL_KEYS = {
    "pauroc_0.3", "pauroc_0.3_mcclish", "pixel_auroc", "au_pro_0.3",
    "pixel_f1_max", "pixel_f1_threshold", "image_auroc", "n_images", "n_anomalous",
}


def _class_set(seed=0, size=16):
    """3 good, 2 'crack', 3 'hole' images with square defects and noisy maps."""
    rng = np.random.default_rng(seed)
    defects = ["good", "crack", "hole", "good", "hole", "crack", "good", "hole"]
    labels = np.array([d != "good" for d in defects], dtype=np.int64)
    masks = np.zeros((len(defects), size, size), np.uint8)
    for i, d in enumerate(defects):
        if d != "good":
            r, c = rng.integers(0, size - 5, 2)
            masks[i, r : r + 4, c : c + (2 if d == "crack" else 4)] = 1
    maps = (rng.random(masks.shape) + 0.7 * masks).astype(np.float32)
    scores = maps.reshape(len(defects), -1).max(axis=1)
    return masks, maps, labels, defects, scores


def test_overall_metrics_equal_direct_calls():
    masks, maps, labels, defects, scores = _class_set()
    rep = evaluate_localization(masks, maps, labels, defects, scores)
    ov = rep["overall"]
    assert set(ov) == PIXEL_KEYS
    assert rep["pixel_level"] is True and rep["max_fpr"] == 0.3
    assert ov["pauroc_0.3"] == pytest.approx(partial_auroc(masks, maps), abs=1e-12)
    assert ov["pauroc_0.3_mcclish"] == pytest.approx(mcclish_partial_auroc(masks, maps), abs=1e-9)
    assert ov["au_pro_0.3"] == pytest.approx(au_pro(masks, maps), abs=1e-12)
    assert ov["pixel_auroc"] == pytest.approx(auroc(masks, maps), abs=1e-12)
    assert (ov["pixel_f1_max"], ov["pixel_f1_threshold"]) == pytest.approx(f1_max(masks, maps))
    assert ov["image_auroc"] == pytest.approx(auroc(labels, scores), abs=1e-12)
    assert (ov["n_images"], ov["n_anomalous"]) == (8, 5)


def test_per_defect_uses_own_images_plus_all_good():
    masks, maps, labels, defects, scores = _class_set()
    rep = evaluate_localization(masks, maps, labels, defects, scores)
    assert list(rep["per_defect"]) == ["crack", "hole"]
    good = [i for i, d in enumerate(defects) if d == "good"]
    for defect, metrics in rep["per_defect"].items():
        idx = [i for i, d in enumerate(defects) if d == defect] + good
        assert set(metrics) == PIXEL_KEYS
        assert metrics["pauroc_0.3"] == pytest.approx(partial_auroc(masks[idx], maps[idx]), abs=1e-12)
        assert metrics["au_pro_0.3"] == pytest.approx(au_pro(masks[idx], maps[idx]), abs=1e-12)
        assert metrics["image_auroc"] == pytest.approx(auroc(labels[idx], scores[idx]), abs=1e-12)
        assert metrics["n_images"] == len(idx)
        assert metrics["n_anomalous"] == len(idx) - len(good)


def test_ragged_original_resolution_lists():
    masks, maps, labels, defects, scores = _class_set()
    # Every second image "at another original size" (crop): lists of 2-D arrays.
    rag_masks = [m if i % 2 else m[:12, :14] for i, m in enumerate(masks)]
    rag_maps = [a if i % 2 else a[:12, :14] for i, a in enumerate(maps)]
    rep = evaluate_localization(rag_masks, rag_maps, labels, defects, scores)
    assert rep["overall"]["pauroc_0.3"] == pytest.approx(partial_auroc(rag_masks, rag_maps), abs=1e-12)
    assert rep["overall"]["au_pro_0.3"] == pytest.approx(au_pro(rag_masks, rag_maps), abs=1e-12)


def test_image_level_only_path():
    _, _, labels, defects, scores = _class_set()
    rep = evaluate_localization(None, None, labels, defects, scores)
    assert rep["pixel_level"] is False
    assert set(rep["overall"]) == {"image_auroc", "n_images", "n_anomalous"}
    assert rep["overall"]["image_auroc"] == pytest.approx(auroc(labels, scores))
    assert set(rep["per_defect"]["hole"]) == {"image_auroc", "n_images", "n_anomalous"}


def test_other_max_fpr_changes_keys():
    masks, maps, labels, defects, scores = _class_set()
    rep = evaluate_localization(masks, maps, labels, defects, scores, max_fpr=0.05)
    assert "pauroc_0.05" in rep["overall"] and "au_pro_0.05" in rep["overall"]
    assert rep["overall"]["pauroc_0.05"] == pytest.approx(partial_auroc(masks, maps, 0.05), abs=1e-12)


def test_errors_are_clear():
    masks, maps, labels, defects, scores = _class_set()
    bad = list(defects)
    bad[0] = "crack"  # label 0 but not 'good'
    with pytest.raises(ValueError, match="'good' must be exactly the label-0 images"):
        evaluate_localization(masks, maps, labels, bad, scores)
    anomalous = labels == 1
    with pytest.raises(ValueError, match=r"\[all images\].*no negative"):
        evaluate_localization(None, None, labels[anomalous], [d for d in defects if d != "good"], scores[anomalous])
    empty = masks.copy()
    empty[np.array(defects) == "crack"] = 0  # 'crack' images without anomalous pixels
    with pytest.raises(ValueError, match="defect 'crack'"):
        evaluate_localization(empty, maps, labels, defects, scores)
    with pytest.raises(ValueError, match="maps is None"):
        evaluate_localization(masks, None, labels, defects, scores)
    with pytest.raises(ValueError, match="image scores"):
        evaluate_localization(masks, maps, labels, defects, scores[:-1])


def test_report_to_frame_is_tidy():
    masks, maps, labels, defects, scores = _class_set()
    rep = evaluate_localization(masks, maps, labels, defects, scores)
    frame = report_to_frame(rep, "bottle", "metal_128")
    assert list(frame.columns) == ["class", "configuration", "defect", "metric", "value"]
    assert len(frame) == 3 * len(PIXEL_KEYS)
    assert frame["value"].dtype == np.float64
    assert set(frame["defect"]) == {"all", "crack", "hole"}
    assert (frame["class"] == "bottle").all() and (frame["configuration"] == "metal_128").all()
    assert frame.iloc[0]["defect"] == "all"
    row = frame[(frame["defect"] == "hole") & (frame["metric"] == "pauroc_0.3")]
    assert row["value"].item() == pytest.approx(rep["per_defect"]["hole"]["pauroc_0.3"])
    assert not frame.duplicated(["defect", "metric"]).any()
    # frames of several classes concatenate
    both = pd.concat([frame, report_to_frame(rep, "cable", "metal_128")], ignore_index=True)
    assert both.groupby("class").size().to_dict() == {"bottle": len(frame), "cable": len(frame)}
