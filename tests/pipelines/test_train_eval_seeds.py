"""``kedro run --pipelines=train_eval --params seeds=2`` (issue 12 item 2): one run per seed, mean ± std.

``train_eval`` with ``seeds`` is the ablation's grid of its one configuration (``config``): one
namespace per seed, the ablation's table node, one MLflow parent run with a nested run per seed.
Without ``seeds`` it is the chain of four pipelines, one run (tests/pipelines/test_train_eval_run.py).
"""

from __future__ import annotations

import pandas as pd
import pytest

from kedro_project import TINY_PARAMS, grid_mlflow_runs, kedro_run, make_project
from synthetic import make_mvtec_category

from metal_pipeline import grid, run_identity
from metal_pipeline.pipelines import stages

CONFIG, MASKING = "squares_rows", "strict"  # the default recipe's
PARAMS = {"class": "widget", **TINY_PARAMS, "training.max_epochs": 2, "seeds": 2}
METRICS = ("pauroc_0.3", "pauroc_0.3_mcclish", "pixel_auroc", "image_auroc", "au_pro_0.3")


# -- without training: the registry and the names ----------------------------------------------------
def _params(**extra):
    params = {"class": "widget", "recipe": "default", "config": CONFIG, "masking": MASKING, "seed": 0,
              "configs": None, "seeds": None, "ingestion": {"img_size": 32, "split_seed": None},
              "model": {}, "training": {}, "scoring": {}, "heatmaps": {}, "evaluation": {}}
    params.update(extra)
    return params


def test_registry_expands_train_eval_only_when_seeds_is_given(monkeypatch):
    from metal_pipeline import pipeline_registry

    monkeypatch.setattr(pipeline_registry, "_SESSION", {})
    monkeypatch.setattr(pipeline_registry, "_BUILT", {})
    pipeline_registry.use_config_loader({"parameters": _params()})
    plain = pipeline_registry.register_pipelines()
    # one run, as before seeds existed: no grid namespace, only its four stages (groups in kedro viz)
    assert {n.namespace for n in plain["train_eval"].nodes} == set(stages.STAGES)
    assert {n.name for n in plain["train_eval"].nodes} >= {"ingestion.ingest_class", "training.train_model",
                                                          "evaluation.evaluate"}

    pipeline_registry.use_config_loader({"parameters": _params(seeds="0+3")})
    seeded = pipeline_registry.register_pipelines()
    namespaces = {n.namespace for n in seeded["train_eval"].nodes} - {None}
    assert namespaces == {f"ablation.{CONFIG}.s0", f"ablation.{CONFIG}.s3"}
    assert seeded["__default__"] is seeded["train_eval"]
    trainings = [n for n in seeded["train_eval"].nodes if n.name.endswith(".train_model")]
    deps = seeded["train_eval"].node_dependencies
    assert [sorted(d.name for d in deps[t]) for t in trainings] == [["ingest_class"]] * 2  # independent
    assert len({n.namespace for n in seeded["ablation"].nodes} - {None}) == 12  # six configs x two seeds


def test_train_eval_with_seeds_is_named_like_the_grid_of_its_configuration():
    params = _params(seeds=2)
    assert grid.is_grid_command(params, ["train_eval"]) and grid.is_grid_command(params, None)
    assert not grid.is_grid_command(_params(), ["train_eval"]) and grid.is_grid_command(_params(), ["ablation"])
    named = run_identity.ablation_name(grid.command_params(params, ["train_eval"]))
    assert named == run_identity.ablation_name(_params(seeds=2, configs=CONFIG))
    assert named != run_identity.ablation_name(params)  # the ablation of all six configurations
    assert grid.command_params(params, ["ablation"]) == params
    assert grid.command_params(_params(), ["train_eval"]) == _params()
    # the namespaces of train_eval's config get their parameters even when configs names others
    resolved = grid.resolve_ablation_grid("squares", "0+3", 0, MASKING, CONFIG)
    assert set(resolved) == {"squares", CONFIG} and set(resolved[CONFIG]) == {"s0", "s3"}


# -- kedro run ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seeded_project(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("project"))
    make_mvtec_category(project / "data" / "01_raw" / "mvtec_ad", "widget", n_train=10, n_test_good=2,
                        defects={"crack": 2})
    result = kedro_run(project, "train_eval", PARAMS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [out] = (project / "data" / "08_reporting").glob(f"widget-default-ablation-{MASKING}-s0+1-*")
    return project, result, out


def test_one_run_per_seed_and_mean_std_table(seeded_project):
    project, result, out = seeded_project
    runs = pd.read_csv(out / "ablation_runs.csv")
    assert list(zip(runs["configuration"], runs["masking"], runs["seed"])) == [(CONFIG, MASKING, 0),
                                                                              (CONFIG, MASKING, 1)]
    assert runs["run_name"].nunique() == 2 and not runs["reused"].any()
    table = pd.read_csv(out / "ablation_table.csv")
    assert table["configuration"].tolist() == [CONFIG] and table["n_seeds"].tolist() == [2]
    for metric in METRICS:
        assert table[metric].item() == pytest.approx(runs[metric].mean())
        assert table[f"{metric}_std"].item() == pytest.approx(runs[metric].std(ddof=1))
    markdown = (out / "ablation_table.md").read_text()
    assert f"| {CONFIG} | {MASKING} | 0, 1 | " in markdown and "±" in markdown
    log = result.stdout + result.stderr
    assert f"Grid of 2 runs: 1 configuration(s) ({CONFIG}) x 2 seed(s) (0, 1)" in log
    # every seed trained its own model in its own run folder, on one shared split
    for seed in (0, 1):
        assert (project / "data" / "06_models" / runs["run_name"][seed] / "checkpoints" / "best.pt").exists()


def test_parent_run_with_one_nested_run_per_seed(seeded_project):
    project, _, out = seeded_project
    with grid_mlflow_runs(project, out.name, max_results=50) as (client, _, found, parent):
        children = [r for r in found if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        assert len(found) == 3 and len(children) == 2
        assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"ablation_table.csv",
                                                                                "ablation_table.md"}
        runs = pd.read_csv(out / "ablation_runs.csv").set_index("seed")
        for child in children:
            seed = int(child.data.params["seed"])
            assert child.data.params["config"] == CONFIG and child.info.status == "FINISHED"
            assert child.info.run_name == runs.loc[seed, "run_name"]
            assert child.data.metrics["image_auroc"] == pytest.approx(runs.loc[seed, "image_auroc"])
