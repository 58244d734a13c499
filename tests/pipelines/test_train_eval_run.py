"""End to end: ``kedro run --pipelines=train_eval`` on a tiny synthetic class.

Checks what a user relies on: a registered MLflow model version that loads back
and reconstructs exactly like the local copy, metrics and figures on disk and
in the same MLflow run, TIFF maps in the official layout, and a friendly error
for an unknown class.
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
import tifffile
import torch
from mlflow.tracking import MlflowClient

from batch_tolerance import assert_close_across_batch_sizes
from kedro_project import TINY_PARAMS, kedro_run, make_project, run_layout
from synthetic import make_mvtec_category

MODEL_NAME = "metal-widget-default-squares_rows-strict"  # class, recipe, configuration, masking


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("project"))
    make_mvtec_category(project / "data" / "01_raw" / "mvtec_ad", "widget", n_train=12, n_test_good=3,
                        defects={"crack": 2, "hole": 2}, sizes=[(48, 48), (40, 56)])
    params = {"class": "widget", **TINY_PARAMS}
    result = kedro_run(project, "train_eval", params)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return project, result


@pytest.fixture
def tracking(trained_project):
    project, _ = trained_project
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    yield MlflowClient()
    mlflow.set_tracking_uri(previous)


def test_registered_model_loads_back_with_identical_reconstructions(trained_project, tracking):
    from metal_pipeline.inference.detector_file import load_detector
    from metal_pipeline.tracking.registry import load_registered

    project, _ = trained_project
    run_dir = run_layout(project)["scored"]
    card = json.loads((run_dir / "model_card.json").read_text())
    assert card["registered_model_name"] == MODEL_NAME
    assert card["version"] == 1 and card["aliases"] == ["champion"]
    version = tracking.get_model_version(MODEL_NAME, "1")
    for tag in ("class", "configuration", "masking", "seed", "git_commit", "threshold"):
        assert tag in version.tags
    assert version.tags["masking"] == "strict"  # the default recipe
    assert version.tags["recipe"] == "default"

    registered = load_registered(f"models:/{MODEL_NAME}@champion")
    local = load_detector(run_dir / "detector.pt")  # torch.load(weights_only=True) inside
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(registered.eval()(x), local.eval()(x))
    assert registered.threshold == pytest.approx(float(version.tags["threshold"]))


def test_registered_pyfunc_model_gives_the_evaluation_scores(trained_project, tracking):
    """The registered model, loaded as MLflow pyfunc and given the raw test files, scores them as the
    heatmaps pipeline did (test_scores.npz), and decides at the stored threshold."""
    import pandas as pd

    from metal_pipeline.datasets import ImageSetDataset

    project, _ = trained_project
    layout = run_layout(project)
    test_set = ImageSetDataset(str(layout["split"] / "test.npz")).load()
    raw = project / "data" / "01_raw" / "mvtec_ad" / "widget" / "test"
    frame = pd.DataFrame({"image": [(raw / f"{name}.png").read_bytes() for name in test_set.names]})
    out = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion").predict(frame)
    evaluation = np.load(layout["output"] / "test_scores.npz")
    np.testing.assert_array_equal(out["score"].to_numpy(np.float64), evaluation["scores"])
    assert_close_across_batch_sizes(np.stack(out["anomaly_map"]), evaluation["maps"])
    threshold = float(evaluation["threshold"])
    assert list(out["decision"]) == ["anomalous" if s > threshold else "normal" for s in evaluation["scores"]]


def test_metrics_figures_and_maps_are_written_and_logged(trained_project, tracking):
    project, result = trained_project
    layout = run_layout(project)
    report_dir = layout["reports"]
    metrics = json.loads((report_dir / "metrics.json").read_text())
    overall = metrics["overall"]
    for key in ("pauroc_0.3", "pauroc_0.3_mcclish", "pixel_auroc", "image_auroc", "au_pro_0.3", "pixel_f1_max"):
        assert 0.0 <= overall[key] <= 1.0
    assert set(metrics["per_defect"]) == {"crack", "hole"}
    for figure in ("reconstruction_panel.png", "roc_curve.png", "per_defect_bars.png"):
        assert (report_dir / figure).stat().st_size > 1000

    maps_root = layout["output"] / "anomaly_maps" / "widget" / "test"
    tiffs = sorted(p.relative_to(maps_root).as_posix() for p in maps_root.rglob("*.tiff"))
    assert len(tiffs) == 3 + 2 + 2 and "crack/000.tiff" in tiffs
    crack = tifffile.imread(maps_root / "crack" / "000.tiff")
    assert crack.dtype == np.float32 and crack.shape == (48, 48)  # original resolution of that image

    run = tracking.get_run(json.loads((layout["scored"] / "model_card.json").read_text())["run_id"])
    assert run.info.run_name == layout["name"].name  # the MLflow run is named after the run
    assert run.data.metrics["pauroc_0.3"] == pytest.approx(overall["pauroc_0.3"])
    history = tracking.get_metric_history(run.info.run_id, "val_loss")
    assert [m.step for m in history] == [1, 2, 3]
    assert run.data.params["class"] == "widget" and run.data.params["training.lr"] == "0.0001"
    artifacts = {a.path for a in tracking.list_artifacts(run.info.run_id)}
    assert {"roc_curve.png", "metrics.json", "reconstruction_panel.png"} <= artifacts
    assert "pauroc_0.3" in result.stdout + result.stderr  # the summary table in the log


def test_rerun_resumes_instead_of_retraining(trained_project):
    project, _ = trained_project
    result = kedro_run(project, "training", {"class": "widget", **TINY_PARAMS})
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_layout(project)["model"] / "training_summary.json").read_text())
    assert summary["resumed_from_epoch"] == 3 and summary["reused"] is True


def test_unknown_class_is_one_clear_paragraph(trained_project):
    project, _ = trained_project
    result = kedro_run(project, "train_eval", {"class": "nosuchclass", **TINY_PARAMS})
    assert result.returncode != 0
    assert "nosuchclass" in result.stderr and "widget" in result.stderr
    assert "Traceback" not in result.stderr


def test_exported_maps_reproduce_the_reported_pauroc(trained_project):
    """An independent recomputation from the TIFFs and the raw masks matches to 1e-4."""
    import subprocess
    import sys

    from kedro_project import PROJECT_ROOT

    project, _ = trained_project
    layout = run_layout(project)
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "recompute_pauroc.py"),
         "--maps", str(layout["output"] / "anomaly_maps"),
         "--dataset", str(project / "data" / "01_raw" / "mvtec_ad" / "widget"),
         "--metrics", str(layout["reports"] / "metrics.json")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "recomputed pAUROC@0.3" in result.stdout


def run_script(project, script, params):
    """``python scripts/<script> --project <project> --params <params>``, as a user runs it."""
    import os
    import subprocess
    import sys

    from kedro_project import PROJECT_ROOT, params_arg

    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true", MLFLOW_DISABLE_TELEMETRY="true", MPLBACKEND="Agg",
               MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}")
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / script), "--project", str(project),
                           "--params", params_arg(params)], env=env, capture_output=True, text=True, timeout=300)


def test_scripts_find_the_run_through_the_catalog(trained_project):
    """evaluate_checkpoint (best.pt through the pipeline's nodes, every setting from conf/) reproduces the
    run's metrics.json; run_report prints the run's tables; compare_predict_scores finds predict's scores
    bitwise equal to evaluation's; each finds the run from the --params alone."""
    project, _ = trained_project
    layout = run_layout(project)
    params = {"class": "widget", **TINY_PARAMS}
    metrics = json.loads((layout["reports"] / "metrics.json").read_text())

    result = run_script(project, "evaluate_checkpoint.py", params)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    printed = dict(line.strip().split(": ", 1) for line in result.stdout.splitlines() if line.startswith("  "))
    assert printed == {k: f"{v:.4f}" if isinstance(v, float) else str(v) for k, v in metrics["overall"].items()}
    assert f"{layout['name']}/{layout['scored'].name}: best.pt from epoch" in result.stdout

    result = run_script(project, "run_report.py", params)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"Run `{layout['name']}`" in result.stdout
    assert f"| all | {metrics['overall']['pauroc_0.3']:.4f} |" in result.stdout

    missing = run_script(project, "compare_predict_scores.py", params)
    assert missing.returncode == 2 and "--pipelines=predict" in missing.stderr
    predicted = kedro_run(project, "predict", params)  # the registered model on the class's test images
    assert predicted.returncode == 0, predicted.stdout[-3000:] + predicted.stderr[-3000:]
    result = run_script(project, "compare_predict_scores.py", params)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    n = len((layout["output"] / "anomaly_map_index.csv").read_text().splitlines()) - 1  # one row per test image
    assert f"images: {n}  bitwise-equal scores: {n}  max |difference|: 0" in result.stdout


def test_mlflow_ui_command_from_readme_serves_the_runs(trained_project):
    """The README's MLflow UI command (mlflow server, one worker, loopback) works offline."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    project, _ = trained_project
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true")
    server = subprocess.Popen(
        [str(mlflow_bin), "server", "--backend-store-uri", "sqlite:///mlflow.db", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/registered-models/search"
        deadline, body = time.monotonic() + 90, None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    body = json.loads(response.read())
            except OSError:
                time.sleep(1)
        assert body is not None, "mlflow server did not answer within 90 s"
        assert [m["name"] for m in body["registered_models"]] == [MODEL_NAME]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
