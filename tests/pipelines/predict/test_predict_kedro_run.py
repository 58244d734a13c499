"""End to end: ``kedro run --pipelines=predict`` in a temporary copy of the project, with the model taken
from the MLflow Model Registry that kedro-mlflow points at (MLFLOW_TRACKING_URI), default name and version.

One subprocess run (~15 s on 2 busy cores); the error paths are tested in-process in tests/inference."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from _predict_helpers import tiny_detector
from metal_pipeline.data.images import load_image
from metal_pipeline.tracking.registry import log_and_register, registered_model_name
from synthetic import make_mvtec_category


PROJECT_ROOT = Path(__file__).resolve().parents[3]


def make_project(root: Path) -> Path:
    """pyproject.toml, conf/ (without local/) and an empty src/: enough for ``kedro run``; data/ stays empty."""
    root.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "src").mkdir()  # the package itself comes from the editable install
    return root


def kedro_run(project: Path, pipeline: str, params: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "MLFLOW_DISABLE_TELEMETRY": "true",
           "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}", "MPLBACKEND": "Agg"}
    cmd = [str(Path(sys.executable).with_name("kedro")), "run", f"--pipelines={pipeline}", "--params",
           ",".join(f"{k}={v}" for k, v in params.items())]
    return subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def registered_project(tmp_path):
    """A project copy whose mlflow.db holds versions 1 and 2 (thresholds 0.5, 0.0) of the name the default
    recipe registers for class widget (metal-widget-default-squares_rows-strict)."""
    project = make_project(tmp_path / "project")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("setup", artifact_location=(project / "mlartifacts").as_uri())
        for seed, threshold in ((1, 0.5), (2, 0.0)):
            with mlflow.start_run(experiment_id=experiment):
                log_and_register(tiny_detector(threshold=threshold, seed=seed),
                                 registered_model_name("widget", "default", "squares_rows", "strict"), {})
    finally:
        if mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)
    return project


def test_kedro_run_predict_with_the_registered_model(registered_project, tmp_path):
    project = registered_project
    category = make_mvtec_category(tmp_path / "raw", "widget", n_train=1, n_test_good=2, defects={"crack": 1})
    (category / "test" / "good" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    result = kedro_run(project, "predict", {"class": "widget", "predict.input_dir": category / "test"})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    out = project / "data" / "07_model_output" / "predictions" / "widget-default-squares_rows-strict"
    table = pd.read_csv(out / "predictions.csv", keep_default_na=False)
    assert list(table["path"]) == ["crack/000.png", "good/000.png", "good/001.png", "good/broken.png"]
    assert table.loc[3, "error"] != "" and (table.loc[:2, "error"] == "").all()
    assert (table.loc[:2, "threshold"] == 0.0).all()  # version 2, the latest
    assert (table.loc[:2, "decision"] == "anomalous").all()
    expected = tiny_detector(seed=2).score(np.stack([load_image(category / "test" / p, 32, 3)
                                                     for p in table.loc[:2, "path"]])).scores
    np.testing.assert_array_equal(table.loc[:2, "score"].to_numpy(dtype=np.float64), expected)
    assert (out / "heatmaps" / "crack" / "000.tiff").is_file() and (out / "overlays" / "good" / "001.png").is_file()
    assert "good/broken.png" in result.stdout + result.stderr  # the unreadable file is reported in the log

