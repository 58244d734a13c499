"""The ``training`` pipeline in process (SequentialRunner, MemoryDatasets): a tiny MeTAL trained for two
epochs on a synthetic class, its detector and threshold, the model card without MLflow, and a second run
that reuses the finished one."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.runner import SequentialRunner

from in_memory import CLASS, memory_catalog, synthetic_splits, tiny_parameters
from metal_pipeline import run_identity
from metal_pipeline.errors import SplitMismatchError
from metal_pipeline.inference.detector import AnomalyDetector
from metal_pipeline.model import MeTAL
from metal_pipeline.pipelines.training import create_pipeline
from metal_pipeline.tracking.registry import registered_model_name

OUTPUTS = ("metal_net", "training_history", "training_summary", "anomaly_detector", "threshold_card",
           "model_card")


def run_training(params, splits):
    train, val, _, manifest = splits
    catalog = memory_catalog(params, train_set=train, val_set=val, split_manifest=manifest,
                             **dict.fromkeys(OUTPUTS))
    SequentialRunner().run(create_pipeline(), catalog)
    return {name: catalog.load(name) for name in OUTPUTS}


@pytest.fixture
def params(tmp_path):
    return tiny_parameters(tmp_path)


def test_pipeline_contract():
    pipe = create_pipeline()
    assert {"train_set", "val_set", "split_manifest"} < pipe.inputs()
    assert pipe.outputs() == {"training_history", "model_card"}
    assert {n.name for n in pipe.nodes} == {"train_model", "build_detector", "register_detector"}


def test_trains_thresholds_and_writes_no_mlflow(params, no_mlflow, caplog):
    splits = synthetic_splits(params)
    train, val, _, manifest = splits
    with caplog.at_level(logging.WARNING):
        out = run_training(params, splits)
    epochs = params["training"]["max_epochs"]

    history = out["training_history"]
    assert isinstance(history, pd.DataFrame) and list(history["epoch"]) == list(range(1, epochs + 1))
    assert np.isfinite(history[["train_loss", "val_loss"]].to_numpy()).all()

    summary = out["training_summary"]
    name = run_identity.run_name(params)  # the name the catalog's ${run:name} gives the same parameters
    assert summary["run_name"] == name and not summary["reused"]
    assert summary["split"] == {"name": manifest["split"], "digests": manifest["digests"]}
    assert summary["stopped_epoch"] == epochs and 1 <= summary["best_epoch"] <= epochs
    assert summary["best_val_loss"] == pytest.approx(history["val_loss"].min())
    assert (summary["class"], summary["configuration"], summary["masking"]) == (
        CLASS, params["config"], params["masking"])
    checkpoints = run_identity.run_dir(params["training"]["checkpoint_root"], name) / "checkpoints"
    assert summary["checkpoint_dir"] == str(checkpoints) and (checkpoints / "best.pt").is_file()

    detector = out["anomaly_detector"]
    assert isinstance(detector, AnomalyDetector) and detector.net is out["metal_net"]
    assert isinstance(detector.net, MeTAL) and not detector.net.training
    assert (detector.img_size, detector.channels) == (params["ingestion"]["img_size"], train.channels)
    assert detector.sigma == params["scoring"]["sigma"] and detector.reduction == params["scoring"]["reduction"]
    card = out["threshold_card"]
    assert np.isfinite(card["threshold"]) and detector.threshold == card["threshold"]
    # the threshold comes from the validation normals' scores (two: in-sample), at the configured
    # false-positive rate
    normal_scores = detector.score(val.images[val.labels == 0]).scores
    assert card["n_validation_normals"] == len(normal_scores) == 2
    assert card["target_fpr"] == params["scoring"]["threshold_target_fpr"]
    assert card["threshold"] == pytest.approx(
        np.quantile(normal_scores, 1 - card["target_fpr"], method="higher"), rel=1e-6)
    assert detector.metadata["run_name"] == name and detector.metadata["split"] == summary["split"]

    model_card = out["model_card"]  # no active MLflow run: named, not registered
    assert model_card["registered_model_name"] == registered_model_name(
        CLASS, params["recipe"], params["config"], params["masking"])
    assert model_card["version"] is None and model_card["model_uri"] is None
    assert model_card["tags"]["run_name"] == name and model_card["tags"]["threshold"] == card["threshold"]
    assert "is not registered" in caplog.text

    # the same parameters again: the finished run is reused (nothing trained), same weights and threshold
    again = run_training(params, splits)
    assert again["training_summary"]["reused"] and again["training_summary"]["run_name"] == name
    assert again["threshold_card"]["threshold"] == card["threshold"]
    pd.testing.assert_frame_equal(again["training_history"].drop(columns="seconds"),
                                  history.drop(columns="seconds"))


def test_refuses_a_split_other_than_its_manifest(params, no_mlflow):
    train, val, test, manifest = synthetic_splits(params)
    with pytest.raises(SplitMismatchError, match="Nothing was trained"):
        run_training(params, (train, test, None, manifest))  # the test set passed as validation set
    assert not Path(params["training"]["checkpoint_root"]).exists()


def test_map_kind_seg_trains_a_cached_head_that_a_rerun_reuses(tmp_path, no_mlflow):
    params = tiny_parameters(tmp_path, **{"scoring.map_kinds": "[l2,seg]", "scoring.seg_head.steps": 3,
                                          "scoring.seg_head.batch_size": 2, "scoring.seg_head.width": 4,
                                          "scoring.seg_head.levels": 2})
    splits = synthetic_splits(params)
    first = run_training(params, splits)
    detector = first["anomaly_detector"]
    assert detector.map_kinds == ("l2", "seg") and detector.seg_head is not None
    assert first["threshold_card"]["seg_head"]["steps"] == 3 and not first["threshold_card"]["seg_head"]["reused"]
    run = run_identity.run_dir(params["training"]["checkpoint_root"], run_identity.run_name(params))
    cached = list((run / "seg_heads").glob("*.pt"))
    assert len(cached) == 1

    second = run_training(params, splits)  # training reused, head loaded from the cache
    assert second["threshold_card"]["seg_head"]["reused"]
    images = splits[2].images
    np.testing.assert_array_equal(detector.score(images).maps, second["anomaly_detector"].score(images).maps)

    # the head's parameters name the scoring folder only when the map uses the head
    other = dict(params, scoring={**params["scoring"], "seg_head": {**params["scoring"]["seg_head"], "steps": 4}})
    assert run_identity.scoring_name(other) != run_identity.scoring_name(params)
    plain = dict(params, scoring={**params["scoring"], "map_kinds": ["l2"]})
    plain_other = dict(other, scoring={**other["scoring"], "map_kinds": ["l2"]})
    assert run_identity.scoring_name(plain) == run_identity.scoring_name(plain_other)
