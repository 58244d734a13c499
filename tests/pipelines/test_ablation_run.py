"""``kedro run --pipelines=ablation`` with a grid: configurations x seeds, each its own run (issue 12).

Two configurations x two seeds on a tiny class: Table 3 with mean ± std as catalogued outputs,
every run's outputs catalogued in its own folder, and in MLflow one parent run (the table) with
one nested run per configuration x seed, read back through the MLflow client. A second command
(one configuration, one seed) reuses the finished run of the first. All six configurations in the
paper's order are checked without training (tests/pipelines/test_ablation_grid.py).
"""

from __future__ import annotations

import json
import re

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from kedro_project import TINY_PARAMS, kedro_run, make_project
from synthetic import make_mvtec_category

CONFIGS = ["squares_nomask", "squares"]  # paper order
SEEDS = [0, 1]
MASKING = {"squares_nomask": "none", "squares": "strict"}
PARAMS = {"class": "widget", "masking": "strict", **TINY_PARAMS, "training.max_epochs": 2,
          "configs": "squares+squares_nomask", "seeds": 2}
RUN_FILES = {
    "06_models": ["detector.pt", "threshold.json", "model_card.json", "training_summary.json"],
    "07_model_output": ["test_scores.npz", "anomaly_map_index.csv"],
    "08_reporting": ["metrics.json", "metrics.csv", "training_history.csv", "reconstruction_panel.png",
                     "roc_curve.png", "per_defect_bars.png"],
}


@pytest.fixture(scope="module")
def grid_project(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("project"))
    make_mvtec_category(project / "data" / "01_raw" / "mvtec_ad", "widget", n_train=10, n_test_good=2,
                        defects={"crack": 2})
    result = kedro_run(project, "ablation", PARAMS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [out] = (project / "data" / "08_reporting").glob("widget-default-ablation-strict-s0+1-*")
    return project, result, out


@pytest.fixture(scope="module")
def client(grid_project):
    project, _, _ = grid_project
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    yield MlflowClient()
    mlflow.set_tracking_uri(previous)


def _runs(client: MlflowClient) -> list:
    experiment = client.get_experiment_by_name("metal-pipeline")
    return client.search_runs([experiment.experiment_id], max_results=100)


def test_table3_has_mean_and_std_over_seeds(grid_project):
    _, _, out = grid_project
    runs = pd.read_csv(out / "ablation_runs.csv")
    assert list(zip(runs["configuration"], runs["seed"])) == [(c, s) for c in CONFIGS for s in SEEDS]
    table = pd.read_csv(out / "ablation_table.csv")
    assert table["configuration"].tolist() == CONFIGS  # the paper's row order, whatever order was given
    assert dict(zip(table["configuration"], table["masking"])) == MASKING
    assert table["n_seeds"].tolist() == [2, 2]
    for metric in ("pauroc_0.3", "pauroc_0.3_mcclish", "pixel_auroc", "image_auroc", "au_pro_0.3"):
        per_config = runs.groupby("configuration", sort=False)[metric]
        assert table[metric].tolist() == pytest.approx(per_config.mean().loc[CONFIGS].tolist())
        assert table[f"{metric}_std"].tolist() == pytest.approx(per_config.std(ddof=1).loc[CONFIGS].tolist())
        assert table[metric].between(0, 1).all()
    markdown = (out / "ablation_table.md").read_text()
    for column in ("pAUROC@0.3 MVTec", "pAUROC@0.3 McClish", "pixel AUROC", "image AUROC"):
        assert column in markdown
    assert re.search(r"\| squares \| strict \| 0, 1 \| \d\.\d{3} ± \d\.\d{3} \|", markdown)
    assert (out / "ablation_table.png").stat().st_size > 0


def test_every_run_is_its_own_run_with_catalogued_outputs(grid_project):
    project, _, out = grid_project
    ablation = out.name
    names = set()
    for config in CONFIGS:
        for seed in SEEDS:
            for layer, files in RUN_FILES.items():
                folder = project / "data" / layer / ablation / config / f"s{seed}"
                assert sorted(p.name for p in folder.iterdir()) == sorted(files), folder
            summary = json.loads((project / "data" / "06_models" / ablation / config / f"s{seed}" /
                                  "training_summary.json").read_text())
            assert (summary["configuration"], summary["masking"], summary["seed"]) == (config, MASKING[config], seed)
            assert summary["run_name"].startswith(f"widget-default-{config}-{MASKING[config]}-s{seed}-")
            assert (project / "data" / "06_models" / summary["run_name"] / "checkpoints" / "best.pt").exists()
            names.add((summary["run_name"], summary["split"]["name"]))
            history = pd.read_csv(out / config / f"s{seed}" / "training_history.csv")
            assert len(history) == 2
    assert len({name for name, _ in names}) == 4
    assert len({split for _, split in names}) == 1  # every seed trains on the same split


def test_progress_names_each_training_with_count_and_eta(grid_project):
    _, result, _ = grid_project
    log = result.stdout + result.stderr
    assert "Grid of 4 runs: 2 configuration(s) (squares_nomask, squares) x 2 seed(s) (0, 1)" in log
    for k in range(1, 5):
        assert f"Grid run {k}/4: widget-default-" in log
        assert f"Grid run {k}/4 done in" in log
    assert re.search(r"Grid run 4/4: .*ETA \d+ s for this and 0 more training", log)


def test_mlflow_parent_with_one_nested_run_per_configuration_and_seed(grid_project, client):
    project, _, out = grid_project
    runs = _runs(client)
    [parent] = [r for r in runs if r.info.run_name == out.name]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 5 and len(children) == 4
    assert parent.info.status == "FINISHED" and "git_commit" in parent.data.tags
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {
        "ablation_table.csv", "ablation_table.md", "ablation_table.png", "ablation_runs.csv"}
    assert not [m for m in parent.data.metrics if m.split(".")[0] in CONFIGS]  # nothing prefixed any more

    table = pd.read_csv(out / "ablation_runs.csv")
    for child in children:
        params = child.data.params
        config, seed = params["config"], int(params["seed"])
        assert (params["masking"], params["recipe"], params["class"]) == (MASKING[config], "default", "widget")
        assert child.info.status == "FINISHED" and "git_commit" in child.data.tags
        row = table[(table["configuration"] == config) & (table["seed"] == seed)].iloc[0]
        assert child.info.run_name == row["run_name"]  # the run name of run_identity: its folder's name
        for metric in ("pauroc_0.3", "pauroc_0.3_mcclish", "pixel_auroc", "image_auroc"):
            assert child.data.metrics[metric] == pytest.approx(row[metric])  # unprefixed
        assert [m.step for m in client.get_metric_history(child.info.run_id, "train_loss")] == [1, 2]
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert artifacts >= {"threshold.json", "training_summary.json", "training_history.csv", "metrics.json",
                             "reconstruction_panel.png", "roc_curve.png", "per_defect_bars.png"}
    assert sorted((c.data.params["config"], int(c.data.params["seed"])) for c in children) == sorted(
        (c, s) for c in CONFIGS for s in SEEDS)


def test_an_identical_finished_run_is_reused_by_a_later_grid(grid_project, client):
    project, _, out = grid_project
    first = pd.read_csv(out / "ablation_runs.csv")
    name = first[(first["configuration"] == "squares") & (first["seed"] == 0)]["run_name"].item()
    params = {**PARAMS, "configs": "squares"}
    del params["seeds"]
    result = kedro_run(project, "ablation", params)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"Reusing the finished run {name}" in result.stdout + result.stderr
    [second] = (project / "data" / "08_reporting").glob("widget-default-ablation-strict-s0-*")
    table = pd.read_csv(second / "ablation_table.csv")
    assert table["configuration"].tolist() == ["squares"] and table["n_seeds"].tolist() == [1]
    assert table["pauroc_0.3_std"].isna().all()
    assert "±" not in (second / "ablation_table.md").read_text().split("\n\n", 1)[1]

    [parent] = [r for r in _runs(client) if r.info.run_name == second.name]
    [child] = [r for r in _runs(client) if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert child.info.run_name == name
    # a reused run's nested MLflow run still gets its loss history, from the checkpoint
    assert [m.step for m in client.get_metric_history(child.info.run_id, "train_loss")] == [1, 2]
