"""The ablation grid on Dask and with Kedro's ParallelRunner (issue 12 item 5).

One tiny grid (one configuration x two seeds) is run three times on identical data, in three
projects at once: with the sequential runner, with ``--runner=metal_pipeline.runners.DaskRunner`` on a
LocalCluster of two worker processes, and with ``--runner=ParallelRunner``. Every training uses one
torch thread in all three (``training.num_threads=1``), and so does scoring (``OMP_NUM_THREADS=1``:
the discriminative head's convolutions round differently with another thread count, by ~1e-8), so
they give bitwise the same table, losses and scores. On Dask the two trainings are independent tasks and run at the same time on the two
workers. MLflow: SQLite, written by the driver and the worker processes at once (MLflow's 20 s busy
timeout makes a writer wait for the lock; docs/SCALING.md); every nested run names its parent by
the parent's run id, read back through the MLflow client.
"""

from __future__ import annotations

import json
import pickle
import re
from concurrent.futures import ThreadPoolExecutor

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from kedro_project import TINY_PARAMS, grid_mlflow_runs, kedro_run, make_project
from synthetic import make_mvtec_category

from metal_pipeline import grid

CONFIG, SEEDS = "squares", (0, 1)
PARAMS = {"class": "widget", "masking": "strict", **TINY_PARAMS, "training.max_epochs": 2,
          "configs": CONFIG, "seeds": len(SEEDS)}
RUNNERS = {"sequential": (), "parallel": ("--runner=ParallelRunner",),
           "dask": ("--runner=metal_pipeline.runners.DaskRunner", "--runner-params=n_workers=2,torch_threads=1")}
TASK_DONE = re.compile(r"Dask task \d+/\d+ done: (?P<group>\S+) \((?P<nodes>\d+) node\(s\)\) on worker "
                       r"(?P<worker>\S+) in .*? \(started \+(?P<start>[\d.]+) s\)")


# -- without a cluster: the tasks ---------------------------------------------------------------
def _grid_pipeline(configs: str, seeds: int):
    from metal_pipeline.pipelines import ablation, ingestion

    return ingestion.create_pipeline() + ablation.create_pipeline(grid.make_grid(configs, seeds, 0, "strict"))


def test_each_grid_run_is_one_task_and_the_trainings_are_independent():
    from metal_pipeline.runners.groups import task_groups

    pipeline = _grid_pipeline("squares+squares_rows", 2)
    groups = task_groups(pipeline, lambda name: name.endswith("metal_net"))
    names = [g.name for g in groups]
    runs = [f"ablation.{c}.s{s}" for c in ("squares", "squares_rows") for s in SEEDS]
    assert names[0] == "ingest_class" and names[-1] == "ablation_table" and sorted(names[1:-1]) == sorted(runs)
    by_name = {g.name: g for g in groups}
    for run in runs:  # each run waits for the split only, and holds all its nodes
        assert by_name[run].depends_on == ("ingest_class",) and by_name[run].namespace == run
        assert {n.namespace for n in by_name[run].nodes} == {run}
        assert any(n.name == f"{run}.train_model" for n in by_name[run].nodes)
    assert sorted(by_name["ablation_table"].depends_on) == sorted(runs)
    assert sum(len(g.nodes) for g in groups) == len(pipeline.nodes)
    # Kedro's own grouping by namespace keeps only the top level: the whole grid would be one task
    assert [g.name for g in pipeline.group_nodes_by("namespace")] == ["ingest_class", "ablation", "ablation_table"]


def test_train_eval_stages_are_tasks_but_not_grid_runs(monkeypatch):
    """Without seeds, train_eval's stages are namespaces (kedro viz groups): one task each, no grid run."""
    from metal_pipeline import pipeline_registry
    from metal_pipeline.pipelines.stages import STAGES
    from metal_pipeline.runners.groups import task_groups

    monkeypatch.setattr(pipeline_registry, "_SESSION", {})
    monkeypatch.setattr(pipeline_registry, "_BUILT", {})
    pipeline = pipeline_registry.register_pipelines()["train_eval"]
    groups = task_groups(pipeline, lambda name: name == "metal_net")
    assert [g.name for g in groups] == list(STAGES)
    assert [g.namespace for g in groups] == [None] * len(STAGES)  # the driver reports no "grid run k/N"
    assert [g.depends_on for g in groups] == [(), ("ingestion",), ("ingestion", "training"),
                                              ("heatmaps", "ingestion")]
    assert sum(len(g.nodes) for g in groups) == len(pipeline.nodes)


@pytest.mark.filterwarnings("ignore:Namespace 'x' is interrupted")  # Kedro's own warning for the loop below
def test_nodes_that_share_memory_data_stay_together_and_a_cycle_is_refused():
    from kedro.pipeline import Node, Pipeline

    from metal_pipeline.runners.groups import task_groups

    def f(x):
        return x

    plain = Pipeline([Node(f, "a", "b", name="one"), Node(f, "b", "c", name="two"), Node(f, "c", "d", name="three")])
    groups = task_groups(plain, lambda name: name == "b")  # b in memory: one and two together
    assert [(g.name, g.node_names, g.depends_on) for g in groups] == [
        ("one+1", ["one", "two"], ()), ("three", ["three"], ("one+1",))]

    # namespace x hands data to y and y back to x: neither task can run first
    loop = Pipeline([Node(f, "a", "m", name="p", namespace="x"), Node(f, "m", "n", name="q", namespace="y"),
                     Node(f, "n", "o", name="r", namespace="x")])
    with pytest.raises(ValueError, match=r"groups x, y depend on each other"):
        task_groups(loop, lambda name: False)


def test_worker_copies_carry_the_parent_and_create_every_child_in_the_driver(tmp_path):
    from metal_pipeline.pipelines.ablation import create_pipeline
    from metal_pipeline.runners.worker_hooks import absolute_tracking_uri
    from metal_pipeline.tracking.grid_runs import GridRunsHook

    assert absolute_tracking_uri("sqlite:///mlflow.db").startswith("sqlite:////")
    assert absolute_tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"

    class Context:
        params = {"class": "widget", "recipe": "default", "config": CONFIG, "masking": "strict", "seed": 0,
                  "seeds": 2, "configs": CONFIG, "ingestion": {"img_size": 32, "split_seed": None},
                  "model": {}, "training": {}, "scoring": {}, "heatmaps": {}, "evaluation": {}}

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        hook = GridRunsHook()
        hook.after_context_created(Context())
        parent = mlflow.start_run(run_name="parent").info.run_id
        hook.before_pipeline_run({"pipeline_names": ["ablation"]}, create_pipeline(grid.grid_runs(Context.params)),
                                 None)
        copy = pickle.loads(pickle.dumps(hook.worker_copy()))  # as the runner ships it
        children = MlflowClient().search_runs([mlflow.get_experiment_by_name("Default").experiment_id],
                                              filter_string=f"tags.mlflow.parentRunId = '{parent}'")
        assert {c.data.tags["metal.namespace"] for c in children} == {f"ablation.{CONFIG}.s{s}" for s in SEEDS}
        assert copy._children == hook._children == {c.data.tags["metal.namespace"]: c.info.run_id
                                                    for c in children}
        assert copy._parent == parent and copy._context is None and copy._in_copy()
    finally:
        while mlflow.active_run():
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)


# -- kedro run: sequential and Dask --------------------------------------------------------------
@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """The same grid in three projects, one command per runner, all at the same time."""
    projects = {}
    for runner in RUNNERS:
        project = make_project(tmp_path_factory.mktemp(runner))
        make_mvtec_category(project / "data" / "01_raw" / "mvtec_ad", "widget", n_train=10, n_test_good=2,
                            defects={"crack": 2})
        projects[runner] = project
    with ThreadPoolExecutor(len(RUNNERS)) as pool:
        futures = {runner: pool.submit(kedro_run, project, "ablation", PARAMS, 600, RUNNERS[runner],
                                       {"DASK_SCHEDULER_ADDRESS": "", "OMP_NUM_THREADS": "1"})
                   for runner, project in projects.items()}
        results = {runner: future.result() for runner, future in futures.items()}
    out = {}
    for runner, result in results.items():
        assert result.returncode == 0, runner + "\n" + result.stdout[-4000:] + result.stderr[-4000:]
        [out[runner]] = (projects[runner] / "data" / "08_reporting").glob("widget-default-ablation-strict-s0+1-*")
    return projects, results, out


def _summaries(project, out) -> dict[int, dict]:
    return {seed: json.loads((project / "data" / "06_models" / out.name / CONFIG / f"s{seed}" /
                              "training_summary.json").read_text()) for seed in SEEDS}


@pytest.mark.parametrize("runner", ["dask", "parallel"])
def test_bitwise_the_sequential_table(three_runs, runner):
    projects, _, out = three_runs
    sequential, other = (pd.read_csv(out[r] / "ablation_table.csv") for r in ("sequential", runner))
    pd.testing.assert_frame_equal(other, sequential, check_exact=True)
    assert other["n_seeds"].tolist() == [2] and other["image_auroc"].notna().all()
    runs = {r: pd.read_csv(out[r] / "ablation_runs.csv").drop(columns=["wall_seconds"]) for r in out}
    pd.testing.assert_frame_equal(runs[runner], runs["sequential"], check_exact=True)
    assert not runs[runner]["reused"].any()  # fresh projects: every run trained
    # the trainings themselves: the same losses and test scores to the last bit
    summaries = {r: _summaries(projects[r], out[r]) for r in ("sequential", runner)}
    for seed in SEEDS:
        assert summaries[runner][seed]["best_val_loss"] == summaries["sequential"][seed]["best_val_loss"]
        scores = [np.load(projects[r] / "data" / "07_model_output" / out[r].name / CONFIG / f"s{seed}" /
                          "test_scores.npz") for r in ("sequential", runner)]
        assert sorted(scores[0].files) == sorted(scores[1].files)
        for key in scores[0].files:
            np.testing.assert_array_equal(scores[1][key], scores[0][key])
    assert summaries[runner][0]["best_val_loss"] != summaries[runner][1]["best_val_loss"]  # seeds differ


def test_the_two_trainings_ran_at_the_same_time_on_two_workers(three_runs):
    _, results, _ = three_runs
    log = results["dask"].stdout + results["dask"].stderr
    assert "Dask: LocalCluster of 2 worker process(es), 1 task slot(s) and 1 torch thread(s) each" in log
    assert log.count("torch threads 1") == 2  # each worker set its own thread count
    done = {m["group"]: m for m in TASK_DONE.finditer(log)}
    assert set(done) == {"ingest_class", "ablation_table"} | {f"ablation.{CONFIG}.s{s}" for s in SEEDS}
    first, second = (done[f"ablation.{CONFIG}.s{s}"] for s in SEEDS)
    assert first["worker"] != second["worker"] and int(first["nodes"]) == int(second["nodes"]) >= 5
    seconds = {}
    for m in (first, second):
        [line] = [line for line in log.splitlines() if f"done: {m['group']} " in line]
        seconds[m["group"]] = float(re.search(r" in (\d+) s ", line)[1])
    starts = sorted((float(m["start"]), seconds[m["group"]]) for m in (first, second))
    assert starts[1][0] < starts[0][0] + starts[0][1]  # the second started before the first ended


@pytest.mark.parametrize("runner", ["dask", "parallel"])
def test_nested_runs_reach_their_parent_by_its_run_id(three_runs, runner):
    projects, _, out = three_runs
    with grid_mlflow_runs(projects[runner], out[runner].name, max_results=50) as (client, experiment_id, found,
                                                                                   parent):
        children = client.search_runs([experiment_id],
                                      filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
        assert len(found) == 3 and len(children) == 2  # nothing else: no stray run from a worker process
        assert parent.info.status == "FINISHED"
        assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"ablation_table.csv",
                                                                                "ablation_table.md"}
        table = pd.read_csv(out[runner] / "ablation_runs.csv").set_index("seed")
        for child in children:
            seed = int(child.data.params["seed"])
            assert child.info.status == "FINISHED" and child.data.params["config"] == CONFIG
            assert child.data.tags["metal.namespace"] == f"ablation.{CONFIG}.s{seed}"
            assert child.info.run_name == table.loc[seed, "run_name"]
            for metric in ("pauroc_0.3", "pixel_auroc", "image_auroc"):
                assert child.data.metrics[metric] == pytest.approx(table.loc[seed, metric])
            assert [m.step for m in client.get_metric_history(child.info.run_id, "train_loss")] == [1, 2]
            artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
            assert artifacts >= {"training_history.csv", "metrics.json", "threshold.json", "roc_curve.png"}


def test_a_worker_s_trainings_stop_cleanly_on_sigterm(tmp_path):
    """The worker plugin installs the process-wide handler (tests/training/test_stop_outside_main_thread.py
    shows what it does), which needs the worker process's main thread: setup runs there."""
    from distributed import Client, LocalCluster

    from metal_pipeline.runners.worker import ProjectSetup
    from metal_pipeline.training.runtime import trainings_stop_on_signals

    project = make_project(tmp_path / "project")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.register_plugin(ProjectSetup(str(project), "metal_pipeline", None, 1))
        assert list(client.run(trainings_stop_on_signals).values()) == [True]
    assert not trainings_stop_on_signals()  # the driver keeps its own handling


@pytest.mark.parametrize("who", ["process_group", "driver"])
def test_a_stopped_dask_run_saves_its_trainings_at_the_end_of_their_epoch(tmp_path, who):
    """SIGTERM to the whole process group (as the queue and a terminal's job control send it) or to the
    driver alone (``kill PID``): each running training writes last.pt at the end of its epoch (no
    periodic checkpoint is due before epoch 1000), the driver says how to resume, and no process is
    left behind."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from kedro_project import params_arg

    from metal_pipeline.training import load_training_checkpoint

    project = make_project(tmp_path / "project")
    make_mvtec_category(project / "data" / "01_raw" / "mvtec_ad", "widget", n_train=10, n_test_good=2,
                        defects={"crack": 2})
    params = {**PARAMS, "training.max_epochs": 100000, "training.min_epochs": 100000, "training.log_every": 1,
              "training.checkpoint_every": 1000}
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "MLFLOW_DISABLE_TELEMETRY": "true",
           "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1",
           "DASK_SCHEDULER_ADDRESS": "", "OMP_NUM_THREADS": "1"}
    log = tmp_path / "log.txt"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("kedro")), "run", "--pipelines=ablation",
                                 "--params", params_arg(params), *RUNNERS["dask"]], cwd=project, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not re.search(r"epoch 3: ", log.read_text()):
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()[-4000:]
            time.sleep(0.2)
        if who == "driver":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=120) != 0
        deadline = time.monotonic() + 60
        while True:  # the workers end too
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, "processes of the run are left behind"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text()
    assert "Error: Dask run stopped by SIGTERM" in text and "Run the same command again to resume" in text, text[-4000:]
    # A run stopped before its first epoch ended (it was still loading) has nothing to save.
    saved = [load_training_checkpoint(path)["epoch"] for path in (project / "data" / "06_models").glob(
        "widget-*/checkpoints/last.pt")]
    assert saved and max(saved) >= 3, text[-4000:]  # the run that logged epoch 3 saved on the stop
    assert all(1 <= epoch < 1000 for epoch in saved)  # no periodic checkpoint was due
