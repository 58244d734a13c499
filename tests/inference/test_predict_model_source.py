"""Loading the detector for predict: MLflow Model Registry (temporary SQLite) and local checkpoints."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from _predict_helpers import tiny_detector
from metal_pipeline.data.errors import DataError
from metal_pipeline.inference.detector import AnomalyDetector
from metal_pipeline.inference.detector_file import ALLOW_PICKLE_ENV, FORMAT, DetectorFileError, save_detector
from metal_pipeline.inference.model_source import load_checkpoint, load_from_registry, parse_version
from metal_pipeline.pipelines.predict.nodes import load_predict_detector
from metal_pipeline.tracking.registry import log_and_register, resolve_model_uri

NAME = "metal-widget-default-squares_rows-strict"


@pytest.fixture
def registry(tmp_path):
    """A fresh SQLite tracking + registry DB with two versions of NAME (thresholds 0.1 and 0.2)
    and one other model; version 1 carries the alias ``champion`` (set by its registration, not moved
    by version 2). Restores the tracking URI."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("predict-test", artifact_location=(tmp_path / "artifacts").as_uri())
        detectors = {}
        for version, (name, threshold) in enumerate([(NAME, 0.1), (NAME, 0.2), ("metal-other-squares", 0.3)], 1):
            detector = tiny_detector(threshold=threshold, seed=version)
            with mlflow.start_run(experiment_id=experiment):
                log_and_register(detector, name, {"threshold": threshold})
            detectors[threshold] = detector
        assert str(MlflowClient().get_registered_model(NAME).aliases["champion"]) == "1"
        yield detectors
    finally:
        if mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)


def _same_model(a: AnomalyDetector, b: AnomalyDetector) -> None:
    images = np.random.default_rng(0).integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    assert a.threshold == b.threshold and a.sigma == b.sigma and a.reduction == b.reduction
    np.testing.assert_array_equal(a.score(images).scores, b.score(images).scores)


def test_registry_by_name_version_alias_and_unknown_name(registry, tmp_path):
    latest = load_from_registry(NAME)
    assert isinstance(latest, AnomalyDetector)
    _same_model(latest, registry[0.2])
    _same_model(load_from_registry(NAME, version="1"), registry[0.1])
    _same_model(load_from_registry(NAME, version=2), registry[0.2])
    _same_model(load_from_registry(NAME, alias="champion"), registry[0.1])

    # The node derives metal-<class>-<recipe>-<config>-<masking> when predict.model_name is null.
    node_params = {"input_dir": "in", "output_dir": "out", "model_name": None, "model_version": "latest"}
    _same_model(load_predict_detector(node_params, "widget", "default", "squares_rows", "strict"), registry[0.2])
    _same_model(load_predict_detector({**node_params, "model_name": "metal-other-squares"}, "x", "r", "y", "paper"),
                registry[0.3])

    with pytest.raises(DataError) as unknown:
        load_predict_detector(node_params, "widget", "paper", "squares_rows", "paper")
    message = str(unknown.value)
    assert "metal-widget-paper-squares_rows-paper" in message
    assert f"Registered models: metal-other-squares, {NAME}" in message and str(tmp_path) in message

    with pytest.raises(DataError, match=r"has no version 7 .*Versions: 1, 2; aliases: champion"):
        load_from_registry(NAME, version=7)
    with pytest.raises(DataError, match=r"has no alias 'production'.*aliases: champion"):
        load_from_registry(NAME, alias="production")
    with pytest.raises(DataError, match="choose one"):
        load_from_registry(NAME, version=1, alias="champion")


def test_local_checkpoint(tmp_path):
    detector = tiny_detector(threshold=0.25)
    save_detector(detector, tmp_path / "detector.pt")
    loaded = load_checkpoint(tmp_path / "detector.pt")
    _same_model(loaded, detector)
    params = {"input_dir": "in", "output_dir": "out", "checkpoint": str(tmp_path / "detector.pt")}
    _same_model(load_predict_detector(params, "widget", "default", "squares_rows", "strict"), detector)

    with pytest.raises(DataError, match="does not exist") as missing:
        load_checkpoint(tmp_path / "nope.pt")
    assert "nope.pt" in str(missing.value)
    torch.save({"state": 1}, tmp_path / "dict.pt")
    with pytest.raises(DataError, match="not a MeTAL detector file"):
        load_checkpoint(tmp_path / "dict.pt")
    (tmp_path / "junk.pt").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot be loaded"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(DataError, match="choose one"):
        load_predict_detector({**params, "model_name": NAME}, "widget", "default", "squares_rows", "strict")


@pytest.mark.parametrize(("given", "expected"), [(None, None), ("latest", None), ("", None), (3, 3), ("4", 4)])
def test_parse_version(given, expected):
    assert parse_version(given) == expected


@pytest.mark.parametrize("given", ["newest", 0, "-1", True])
def test_parse_version_rejects(given):
    with pytest.raises(DataError, match="model_version"):
        parse_version(given)


def test_registered_detector_artifact_is_a_weights_only_file(registry, tmp_path):
    """The pyfunc model's artifact is the detector file: it loads with torch.load(weights_only=True)."""
    from mlflow.artifacts import download_artifacts

    from metal_pipeline.inference.pyfunc_model import DETECTOR_ARTIFACT

    uri = resolve_model_uri(NAME, version=1)
    local = download_artifacts(artifact_uri=f"{uri}/artifacts", dst_path=str(tmp_path / "dl"))
    files = [p for p in Path(local).rglob("*.pt")]
    assert [p.name for p in files] == ["detector.pt"], DETECTOR_ARTIFACT
    assert torch.load(files[0], weights_only=True)["format"] == FORMAT


def test_models_registered_with_the_pytorch_flavour_load_only_when_allowed(tmp_path, monkeypatch):
    """Versions registered before the pyfunc model (pytorch flavour, whole pickled detector) are refused by
    default (unpickling runs code from the registry); METAL_ALLOW_PICKLE=1 or allow_pickle=True loads them."""
    monkeypatch.delenv(ALLOW_PICKLE_ENV, raising=False)
    import mlflow.pytorch

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("old", artifact_location=(tmp_path / "artifacts").as_uri())
        detector = tiny_detector(threshold=0.3, seed=4)
        with mlflow.start_run(experiment_id=experiment):
            mlflow.pytorch.log_model(detector, name="model", registered_model_name="metal-widget-squares_rows",
                                     serialization_format="pickle", pip_requirements=["torch"])
        with pytest.raises(DetectorFileError) as refused:
            load_from_registry("metal-widget-squares_rows")
        message = str(refused.value)
        assert "models:/metal-widget-squares_rows/1" in message and "pytorch flavour" in message
        assert f"{ALLOW_PICKLE_ENV}=1" in message and "trust this registry" in message
        _same_model(load_from_registry("metal-widget-squares_rows", allow_pickle=True), detector)
        monkeypatch.setenv(ALLOW_PICKLE_ENV, "1")
        _same_model(load_from_registry("metal-widget-squares_rows"), detector)
    finally:
        if mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)
