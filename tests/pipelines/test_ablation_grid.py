"""The ablation grid without training (issue 12): parameters, names, registry, Table 3, MLflow statuses.

The end-to-end run is tests/pipelines/test_ablation_run.py.
"""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from metal_pipeline import grid, run_identity

SIX = ["squares_nomask", "squares", "squares_rows", "squares_cols", "rows_cols", "squares_rows_cols"]


def _params(**extra):
    params = {"class": "widget", "recipe": "default", "config": "squares_rows", "masking": "strict", "seed": 0,
              "ingestion": {"data_root": "data/01_raw/mvtec_ad", "img_size": 32, "split_seed": None},
              "model": {"patch_size": 8}, "training": {"lr": 1e-3, "progress": False},
              "scoring": {"sigma": 1.0}, "heatmaps": {}, "evaluation": {"max_fpr": 0.3}}
    params.update(extra)
    return params


# -- parameters ----------------------------------------------------------------------
@pytest.mark.parametrize("seeds, seed, expected", [
    (None, 0, [0]), (None, 3, [3]), (2, 0, [0, 1]), (3, 5, [5, 6, 7]), ("2", 0, [0, 1]),
    ([0, 3], 0, [0, 3]), ("0+3", 7, [0, 3]), ("4 1", 0, [4, 1]), ([2], 0, [2]),
])
def test_seed_list(seeds, seed, expected):
    assert grid.seed_list(seeds, seed) == expected


@pytest.mark.parametrize("bad", [0, -1, "x", [1, 1], True, [], "1+a"])
def test_seed_list_refuses(bad):
    with pytest.raises(ValueError):
        grid.seed_list(bad, 0)


def test_config_list_is_in_paper_order():
    assert grid.config_list(None) == SIX and grid.config_list("all") == SIX
    assert grid.config_list("squares_rows+squares_nomask") == ["squares_nomask", "squares_rows"]
    assert grid.config_list(["rows_cols"]) == ["rows_cols"]
    with pytest.raises(ValueError, match="unknown configuration"):
        grid.config_list("squares+sqares")


def test_bad_grid_parameters_are_one_paragraph():
    from metal_pipeline.params.validate import problems

    found = " ".join(problems(_params(seeds=0, configs="squares+nope")))
    assert "seeds=0 must be a count" in found and "configs='squares+nope' must be all" in found
    assert problems(_params(seeds="0+2", configs="squares")) == []


def test_ablation_name_records_seeds_and_configurations_only_when_not_default():
    base = run_identity.ablation_name(_params())
    assert re.fullmatch(r"widget-default-ablation-strict-s0-[0-9a-f]{6}", base)
    assert run_identity.ablation_name(_params(seeds=1, configs="all")) == base  # the same grid
    two = run_identity.ablation_name(_params(seeds=2))
    assert two.startswith("widget-default-ablation-strict-s0+1-") and two != base
    assert run_identity.ablation_name(_params(seeds=5)).startswith("widget-default-ablation-strict-s0..4-")
    assert run_identity.ablation_name(_params(configs="squares")) != base


def test_grid_runs_share_one_split_and_are_named_like_train_eval():
    params = _params(seeds=2, seed=0)
    runs = grid.grid_runs(params)
    assert [(r.config, r.seed) for r in runs] == [(c, s) for c in SIX for s in (0, 1)]
    assert runs[0].masking == "none" and {r.masking for r in runs[2:]} == {"strict"}
    squares_s1 = next(r for r in runs if r.config == "squares" and r.seed == 1)
    assert squares_s1.namespace == "ablation.squares.s1"
    name = grid.run_name(params, squares_s1)
    assert name.startswith("widget-default-squares-strict-s1-")
    # seed 1 of the grid trains on seed 0's split: the name of train_eval with seed=1 and split_seed=0
    same = _params(config="squares", seed=1, ingestion={**params["ingestion"], "split_seed": 0})
    assert name == run_identity.run_name(same)
    assert name != run_identity.run_name(_params(config="squares", seed=1))  # that one splits with seed 1
    # seed 0 of a grid is the train_eval run of seed 0: reused
    assert grid.run_name(params, runs[2]) == run_identity.run_name(_params(config="squares"))


# -- registry and parameters agree -----------------------------------------------------------------
def _namespaces(pipeline) -> list[str]:
    return list(dict.fromkeys(n.namespace for n in pipeline.nodes if n.namespace))


def test_registry_builds_the_grid_of_the_session_parameters(monkeypatch):
    from metal_pipeline import pipeline_registry

    monkeypatch.setattr(pipeline_registry, "_SESSION", {})
    monkeypatch.setattr(pipeline_registry, "_BUILT", {})
    default = pipeline_registry.register_pipelines()["ablation"]
    assert sorted(_namespaces(default)) == sorted(f"ablation.{c}.s0" for c in SIX)

    params = _params(configs="squares+rows_cols", seeds="0+3")
    pipeline_registry.use_config_loader({"parameters": params})
    pipeline = pipeline_registry.register_pipelines()["ablation"]
    expected = ["ablation.squares.s0", "ablation.squares.s3", "ablation.rows_cols.s0", "ablation.rows_cols.s3"]
    assert sorted(_namespaces(pipeline)) == sorted(expected)
    table = next(n for n in pipeline.nodes if n.name == "ablation_table")
    assert sorted(table.inputs) == sorted(f"{ns}.{d}" for ns in expected for d in ("metrics_table",
                                                                                     "training_summary"))
    # the resolver gives exactly these namespaces their config, masking and seed
    resolved = grid.resolve_ablation_grid(params["configs"], params["seeds"], params["seed"], params["masking"])
    assert sorted(f"ablation.{c}.{s}" for c, seeds in resolved.items() for s in seeds) == sorted(expected)
    assert resolved["squares"]["s3"] == {"config": "squares", "masking": "strict", "seed": 3}
    assert grid.resolve_ablation_grid("nope", None, 0, "strict") == {}  # reported by the parameter check

    pipeline_registry.use_config_loader({"parameters": _params(seeds="x")})  # bad: the default grid
    assert sorted(_namespaces(pipeline_registry.register_pipelines()["ablation"])) == sorted(
        f"ablation.{c}.s0" for c in SIX)


# -- Table 3 -----------------------------------------------------------------------------------
def _metrics(config: str, masking: str, values: dict[str, float]) -> pd.DataFrame:
    rows = [("widget", config, masking, "all", m, v) for m, v in values.items()]
    rows += [("widget", config, masking, "crack", m, 0.1) for m in values]
    return pd.DataFrame(rows, columns=["class", "configuration", "masking", "defect", "metric", "value"])


def test_table3_mean_std_in_paper_order_and_head_ct_layout():
    from metal_pipeline.pipelines.ablation.nodes import ablation_tables

    inputs = {}
    for i, config in enumerate(reversed(SIX)):  # given in reverse: the table follows the paper
        masking = "none" if config == "squares_nomask" else "paper"
        for seed, shift in ((0, 0.0), (1, 0.1)):
            values = {"pauroc_0.3": 0.5 + shift, "pauroc_0.3_mcclish": 0.7, "pixel_auroc": 0.8 + i / 100,
                      "image_auroc": 0.9, "n_images": 6.0}
            inputs[f"{config}__s{seed}__metrics"] = _metrics(config, masking, values)
            inputs[f"{config}__s{seed}__summary"] = {"seed": seed, "recipe": "paper", "run_name": f"{config}-{seed}",
                                                     "reused": False, "wall_seconds": 1.0}
    runs, table, markdown, figure = ablation_tables(**inputs)
    assert table["configuration"].tolist() == SIX and len(runs) == 12
    assert table["pauroc_0.3"].tolist() == pytest.approx([0.55] * 6)
    assert table["pauroc_0.3_std"].tolist() == pytest.approx([math.sqrt(0.005)] * 6)  # sample std of 0.5, 0.6
    assert table["image_auroc_std"].tolist() == pytest.approx([0.0] * 6)
    assert "| squares_nomask | none | 0, 1 | 0.550 ± 0.071 | 0.700 ± 0.000 |" in markdown
    assert "recipe paper" in markdown and "2 seeds" in markdown
    assert figure.axes

    head_ct = {f"{c}__s{s}__{k}": (_metrics(c, "strict", {"image_auroc": 0.8 + s / 10, "n_images": 4.0})
                                   if k == "metrics" else {"seed": s, "recipe": "default"})
               for c in ("squares", "squares_rows") for s in (0, 1, 2) for k in ("metrics", "summary")}
    _, table, markdown, _ = ablation_tables(**head_ct)
    header = markdown.split("\n\n", 1)[1].splitlines()[0]
    assert header == "| configuration | masking | seeds | image AUROC |"  # the paper's Table 5 layout
    assert "Table 5" in markdown and "McClish" not in markdown
    assert "| squares | strict | 0, 1, 2 | 0.900 ± 0.100 |" in markdown
    assert table["n_seeds"].tolist() == [3, 3]


def test_table3_and_table5_show_the_paper_s_published_value_in_the_column_of_its_convention():
    from metal_pipeline.pipelines.ablation.nodes import ablation_tables

    def inputs(class_name, values):
        out = {}
        for config in ("squares", "squares_rows"):
            frame = _metrics(config, "paper", values).assign(**{"class": class_name})
            out[f"{config}__s0__metrics"] = frame
            out[f"{config}__s0__summary"] = {"seed": 0, "recipe": "paper"}
        return out

    _, _, markdown, figure = ablation_tables(**inputs("bottle", {"pauroc_0.3": 0.6, "pauroc_0.3_mcclish": 0.7,
                                                                 "pixel_auroc": 0.8, "image_auroc": 0.9}))
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert lines[0] == ("| configuration | masking | seeds | pAUROC@0.3 MVTec | pAUROC@0.3 McClish | pixel AUROC "
                        "| image AUROC |")
    # the paper's bottle value is read as McClish: that column only, on a row after ours
    assert lines[-1] == "| squares_rows: MeTAL (paper) [1] | paper | — | — | 0.850 | — | — |"
    assert "[1] De Nardin et al. 2022" in markdown
    assert len(figure.axes[0].get_xticklabels()) == 3  # two configurations and the published value

    _, _, markdown, _ = ablation_tables(**inputs("head_ct", {"image_auroc": 0.6}))
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert lines[0] == "| configuration | masking | seeds | image AUROC |"  # Table 5: image AUROC only
    assert lines[-1] == "| squares_rows: MeTAL (paper) [1] | paper | — | 0.863 ± 0.040 |"

    _, _, markdown, figure = ablation_tables(**inputs("widget", {"image_auroc": 0.6}))
    assert "[1]" not in markdown and len(figure.axes[0].get_xticklabels()) == 2  # no published value


# -- MLflow: statuses of the nested runs when a command fails --------------------------------------
class _Context:
    def __init__(self, params):
        self.params = params


def test_nested_runs_end_finished_failed_or_killed(tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient

    from metal_pipeline.pipelines.ablation import create_pipeline
    from metal_pipeline.tracking.grid_runs import STOPPED_TAG, GridRunsHook

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        params = _params(configs="squares+squares_rows", seeds=2)
        runs = grid.grid_runs(params)
        pipeline = create_pipeline(runs)
        hook = GridRunsHook()
        hook.after_context_created(_Context(params))
        client = MlflowClient()

        def run(node, parent, fail=False):
            """One node as Kedro runs it: kedro-mlflow re-activates the parent, then the hook."""
            mlflow.start_run(run_id=parent, nested=True)
            hook.before_node_run(node, None, {}, False)
            active = mlflow.active_run().info.run_id
            if not fail:
                hook.after_node_run(node, None, {}, {}, False)
            return active

        def nodes(namespace):
            return [n for n in pipeline.nodes if n.namespace == namespace]

        # a command that fails in squares.s1, after squares.s0 finished and squares_rows.s0 began
        parent = mlflow.start_run(run_name="parent").info.run_id
        hook.before_pipeline_run({}, pipeline, None)
        finished = {run(n, parent) for n in nodes("ablation.squares.s0")}
        stopped = run(nodes("ablation.squares_rows.s0")[0], parent)
        failing = run(nodes("ablation.squares.s1")[0], parent, fail=True)
        assert len(finished) == 1 and parent not in finished and len({*finished, stopped, failing}) == 3
        child = client.get_run(finished.pop())
        assert child.data.tags["mlflow.parentRunId"] == parent  # the explicit parent run id
        assert child.data.params["config"] == "squares" and child.data.params["seed"] == "0"
        assert child.data.params["masking"] == "strict" and child.data.params["recipe"] == "default"
        assert child.info.run_name == grid.run_name(params, runs[0])
        while mlflow.active_run():  # kedro-mlflow's on_pipeline_error ends every active run FAILED
            mlflow.end_run("FAILED")
        hook.on_pipeline_error(RuntimeError("boom"), {}, pipeline, None)
        assert client.get_run(child.info.run_id).info.status == "FINISHED"
        assert client.get_run(failing).info.status == "FAILED"
        assert client.get_run(stopped).info.status == "KILLED"
        assert "ablation.squares.s1" in client.get_run(stopped).data.tags[STOPPED_TAG]
        assert len(hook._children) == 3  # squares_rows.s1 never started: no MLflow run

        # a command that succeeds: every child FINISHED, the parent left active for kedro-mlflow to end
        parent = mlflow.start_run(run_name="parent2").info.run_id
        hook.before_pipeline_run({}, pipeline, None)
        children = {run(n, parent) for n in pipeline.nodes if n.namespace}
        assert run(next(n for n in pipeline.nodes if n.name == "ablation_table"), parent) == parent
        hook.after_pipeline_run({}, {}, pipeline, None)
        assert mlflow.active_run().info.run_id == parent
        assert len(children) == 4 and {client.get_run(c).info.status for c in children} == {"FINISHED"}
    finally:
        while mlflow.active_run():
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)
