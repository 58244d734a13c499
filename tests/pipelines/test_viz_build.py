"""``kedro viz build`` works offline and draws the main pipeline's DAG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kedro_project import make_project


def test_viz_build_shows_train_eval(tmp_path):
    project = make_project(tmp_path / "project")
    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true", MLFLOW_DISABLE_TELEMETRY="true")
    kedro = Path(sys.executable).with_name("kedro")
    result = subprocess.run([str(kedro), "viz", "build"], cwd=project, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    graph = json.loads((project / "build" / "api" / "pipelines" / "train_eval").read_text())
    tasks = [n["name"] for n in graph["nodes"] if n["type"] == "task"]
    assert sorted(tasks) == sorted(["ingest_class", "train_model", "build_detector", "register_detector",
                                    "score_test_set", "export_anomaly_maps", "evaluate", "make_figures"])
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    ids = {n["name"]: n["id"] for n in graph["nodes"]}
    assert (ids["ingest_class"], ids["test_set"]) in edges and (ids["test_set"], ids["score_test_set"]) in edges
    pipelines = {p["id"] for p in graph["pipelines"]}
    assert {"train_eval", "ablation", "predict", "ingestion"} <= pipelines
