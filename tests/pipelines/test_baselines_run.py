"""``kedro run --pipelines=baselines``: the Table 4-style comparison end to end (issue 12).

MeTAL with the default and the paper recipe and the l2-AE and SSIM-AE of Bergmann et al. 2019, two
seeds each, on a tiny synthetic class with 2 epochs: the table with mean ± std as catalogued outputs,
every run's outputs in its own folder, and in MLflow one parent run (the table) with one nested run
per method x seed, read back through the MLflow client. The table's layout with the paper's values
is checked without training (tests/baselines/test_conv_ae.py).
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from kedro_project import TINY_PARAMS, grid_mlflow_runs, kedro_run, make_project
from synthetic import make_mvtec_category

METHODS = ["default", "paper", "l2_ae", "ssim_ae"]
SEEDS = [0, 1]
PARAMS = {"class": "widget", **TINY_PARAMS, "training.max_epochs": 2, "seeds": 2,
          "conv_ae.model.latent_dim": 8, "conv_ae.training.max_epochs": 2, "conv_ae.training.min_epochs": 0,
          "conv_ae.training.batch_size": 4, "conv_ae.scoring.sigma": 1.0}
MASKING = {"default": "strict", "paper": "paper", "l2_ae": "none", "ssim_ae": "none"}


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("project"))
    make_mvtec_category(project / "data" / "01_raw" / "mvtec_ad", "widget", n_train=10, n_test_good=2,
                        defects={"crack": 2})
    result = kedro_run(project, "baselines", PARAMS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [out] = (project / "data" / "08_reporting").glob("widget-table4-s0+1-*")
    return project, result, out


def test_table_has_the_four_methods_with_mean_and_std_over_seeds(comparison):
    _, _, out = comparison
    runs = pd.read_csv(out / "table4_runs.csv")
    assert list(zip(runs["method"], runs["seed"])) == [(m, s) for m in METHODS for s in SEEDS]
    table = pd.read_csv(out / "table4.csv")
    assert table["method"].tolist() == METHODS and table["n_seeds"].tolist() == [2] * 4
    assert dict(zip(table["method"], table["masking"])) == MASKING
    assert dict(zip(table["method"], table["configuration"])) == {
        "default": "squares_rows", "paper": "squares_rows", "l2_ae": "l2_ae", "ssim_ae": "ssim_ae"}
    for metric in ("pauroc_0.3", "pauroc_0.3_mcclish", "pixel_auroc", "image_auroc"):
        per_method = runs.groupby("method", sort=False)[metric]
        assert table[metric].tolist() == pytest.approx(per_method.mean().loc[METHODS].tolist())
        assert table[f"{metric}_std"].tolist() == pytest.approx(per_method.std(ddof=1).loc[METHODS].tolist())
        assert table[metric].between(0, 1).all()
    markdown = (out / "table4.md").read_text()
    assert ("| method | configuration | masking | seeds | pAUROC@0.3 MVTec | pAUROC@0.3 McClish | pixel AUROC | "
            "image AUROC |") in markdown
    assert re.search(r"\| SSIM-AE \(Bergmann et al\. 2019\) \| ssim_ae \| none \| 0, 1 \| \d\.\d{3} ± \d\.\d{3} \|",
                     markdown)
    assert (out / "table4.png").stat().st_size > 0


def test_every_run_is_its_own_run_and_metal_rows_follow_their_recipe(comparison):
    project, _, out = comparison
    names, splits = set(), set()
    for method in METHODS:
        for seed in SEEDS:
            folder = project / "data" / "06_models" / out.name / method / f"s{seed}"
            summary = json.loads((folder / "training_summary.json").read_text())
            assert (summary["recipe"], summary["masking"], summary["seed"]) == (method, MASKING[method], seed)
            prefix = (f"widget-{method}-squares_rows-{MASKING[method]}-s{seed}-" if method in ("default", "paper")
                      else f"widget-{method}-s{seed}-")
            assert summary["run_name"].startswith(prefix)
            assert (project / "data" / "06_models" / summary["run_name"] / "checkpoints" / "best.pt").exists()
            assert (folder / "threshold.json").exists()
            assert (folder / "detector.pt").exists() == (method in ("default", "paper"))
            assert (project / "data" / "07_model_output" / out.name / method / f"s{seed}" / "test_scores.npz").exists()
            reports = out / method / f"s{seed}"
            assert {p.name for p in reports.iterdir()} >= {"metrics.json", "metrics.csv", "training_history.csv",
                                                           "reconstruction_panel.png", "roc_curve.png"}
            assert len(pd.read_csv(reports / "training_history.csv")) == 2
            names.add(summary["run_name"])
            splits.add(summary["split"]["name"])
    assert len(names) == 8 and len(splits) == 1  # one split shared by every run


def test_mlflow_parent_with_one_nested_run_per_method_and_seed(comparison):
    project, result, out = comparison
    log = result.stdout + result.stderr
    assert "Grid of 8 runs: 4 method(s) (default, paper, l2_ae, ssim_ae) x 2 seed(s) (0, 1)" in log
    assert re.search(r"Grid run 8/8: widget-ssim_ae-s1-\w+ \(method ssim_ae, seed 1\)", log)
    with grid_mlflow_runs(project, out.name) as (client, _, runs, parent):
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        assert len(children) == 8 and parent.info.status == "FINISHED" and "git_commit" in parent.data.tags
        assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {
            "table4.csv", "table4.md", "table4.png", "table4_runs.csv"}
        table = pd.read_csv(out / "table4_runs.csv")
        for child in children:
            params = child.data.params
            method, seed = params["method"], int(params["seed"])
            assert (params["masking"], params["recipe"]) == (MASKING[method], method)
            row = table[(table["method"] == method) & (table["seed"] == seed)].iloc[0]
            assert child.info.run_name == row["run_name"] and child.info.status == "FINISHED"
            assert child.data.metrics["pixel_auroc"] == pytest.approx(row["pixel_auroc"])  # unprefixed
            assert [m.step for m in client.get_metric_history(child.info.run_id, "train_loss")] == [1, 2]
            assert {a.path for a in client.list_artifacts(child.info.run_id)} >= {
                "threshold.json", "training_summary.json", "training_history.csv", "metrics.json"}
        ae = next(c for c in children if c.data.params["method"] == "ssim_ae")
        assert ae.data.params["scoring.map_kinds"] == "['ssim']" and ae.data.params["model.latent_dim"] == "8"
