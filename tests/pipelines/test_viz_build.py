"""``kedro viz build`` works offline, draws the main pipeline's DAG, puts every dataset on a layer,
shows the raw class folder and the anomaly-map folder as datasets, and draws train_eval's stages as
groups (namespaces, kedro-viz's collapsible modular pipelines) and tags (issue 13)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kedro_project import make_project

#: kedro-viz layers, in data-flow order (Kedro's data-engineering convention).
LAYERS = ["raw", "intermediate", "model_input", "models", "model_output", "reporting"]
STAGES = {"ingest_class": "ingestion", "train_model": "training", "build_detector": "training",
          "register_detector": "training", "score_test_set": "heatmaps", "export_anomaly_maps": "heatmaps",
          "evaluate": "evaluation", "make_figures": "evaluation"}


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    project = make_project(tmp_path_factory.mktemp("viz") / "project")
    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true", MLFLOW_DISABLE_TELEMETRY="true")
    kedro = Path(sys.executable).with_name("kedro")
    result = subprocess.run([str(kedro), "viz", "build"], cwd=project, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return project / "build" / "api"


def _graph(build: Path, pipeline: str) -> dict:
    return json.loads((build / "pipelines" / pipeline).read_text())


def test_viz_build_shows_train_eval(build):
    graph = _graph(build, "train_eval")
    tasks = [n["name"] for n in graph["nodes"] if n["type"] == "task"]
    assert sorted(tasks) == sorted(STAGES)
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    ids = {n["name"]: n["id"] for n in graph["nodes"]}
    assert (ids["ingest_class"], ids["test_set"]) in edges and (ids["test_set"], ids["score_test_set"]) in edges
    pipelines = {p["id"] for p in graph["pipelines"]}
    assert {"train_eval", "ablation", "predict", "ingestion"} <= pipelines


def test_every_dataset_of_every_pipeline_has_a_layer(build):
    main = json.loads((build / "main").read_text())
    assert main["layers"] == [layer for layer in LAYERS if layer in main["layers"]]  # in data-flow order
    pipelines = sorted(p.name for p in (build / "pipelines").iterdir())
    assert {"train_eval", "ablation", "predict"} <= set(pipelines)
    for pipeline in pipelines:
        data = [n for n in _graph(build, pipeline)["nodes"] if n["type"] == "data"]
        assert data, pipeline
        without = sorted(n["name"] for n in data if n.get("layer") not in LAYERS)
        assert without == [], f"{pipeline}: datasets without a kedro-viz layer (catalog metadata): {without}"


def test_raw_folder_and_anomaly_maps_are_datasets_of_train_eval(build):
    graph = _graph(build, "train_eval")
    nodes = {n["name"]: n for n in graph["nodes"]}
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    raw, maps = nodes["raw_class_folder"], nodes["anomaly_maps"]
    assert (raw["layer"], maps["layer"]) == ("raw", "model_output")
    assert (raw["id"], nodes["ingest_class"]["id"]) in edges  # ingestion reads the raw folder ...
    assert (nodes["export_anomaly_maps"]["id"], maps["id"]) in edges  # ... and the maps are written through one
    assert nodes["train_set"]["layer"] == "model_input" and nodes["anomaly_detector"]["layer"] == "models"
    assert nodes["metrics"]["layer"] == "reporting"
    # the ablation's runs write their maps through the same kind of dataset
    ablation = [n for n in _graph(build, "ablation")["nodes"] if n["name"].endswith(".anomaly_maps")]
    assert ablation and {n["layer"] for n in ablation} == {"model_output"}


def test_train_eval_stages_are_tagged_groups(build):
    graph = _graph(build, "train_eval")
    tags = {n["name"]: n["tags"] for n in graph["nodes"] if n["type"] == "task"}
    assert tags == {name: [stage] for name, stage in STAGES.items()}
    assert set(STAGES.values()) <= {t["id"] for t in json.loads((build / "main").read_text())["tags"]}


def test_train_eval_stages_are_collapsible_groups(build):
    """Each stage is a kedro-viz modular pipeline holding its nodes; no dataset took the stage's name."""
    graph = _graph(build, "train_eval")
    groups = graph["modular_pipelines"]
    tasks = {n["id"]: n for n in graph["nodes"] if n["type"] == "task"}
    for stage in sorted(set(STAGES.values())):
        members = sorted(tasks[c["id"]]["name"] for c in groups[stage]["children"] if c["id"] in tasks)
        assert members == sorted(name for name, of in STAGES.items() if of == stage), stage
    for node in tasks.values():
        assert node["modular_pipelines"] == [STAGES[node["name"]]]
        assert node["full_name"] == f"{STAGES[node['name']]}.{node['name']}"  # kedro run --from-nodes <this>
    data = {n["name"] for n in graph["nodes"] if n["type"] == "data"}
    assert {"raw_class_folder", "train_set", "anomaly_detector", "test_scores", "metrics"} <= data
    assert not [name for name in data if "." in name]  # the catalog's own names, not <stage>.<name>
    # a grid keeps one group per run (its MLflow child run, its Dask task), with no stage group inside
    ablation = _graph(build, "ablation")["modular_pipelines"]
    runs = [key for key in ablation if key.count(".") == 2]
    assert runs and all(key.startswith("ablation.") for key in runs)
    assert not [key for key in ablation if key.split(".")[-1] in set(STAGES.values())]
