"""Issue 11 cases 5 and 6, end to end with ``kedro run``: kill -9, SIGTERM and a truncated ``last.pt``.

One tiny training run (10 epochs, a checkpoint every 3) is

1. killed with SIGKILL in the middle of epoch 5 (last checkpoint: epoch 3);
2. resumed, and stopped with SIGTERM in the middle of epoch 7, which finishes
   and saves epoch 7 and exits with one paragraph;
3. resumed to the end;
4. run again after truncating its ``last.pt``, which falls back to ``best.pt``.

The same run trained without interruption in a copy of the project is the
reference: the final weights must be bit-identical, and every MLflow run of
the sequence must hold its loss history from epoch 1 without a gap.

A test-only ``sitecustomize`` (``pause_site/``) holds the subprocess at a
chosen optimiser step, so the kills land at known points in an epoch.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipelines"))
from kedro_project import TINY_PARAMS, make_project, params_arg  # noqa: E402
from synthetic import make_mvtec_category  # noqa: E402

from metal_pipeline.datasets import ImageSetDataset  # noqa: E402

PAUSE_SITE = Path(__file__).resolve().parent / "pause_site"
MAX_EPOCHS = 10
PARAMS = {"class": "widget", **TINY_PARAMS, "training.max_epochs": MAX_EPOCHS, "training.checkpoint_every": 3,
          "training.patience": 100, "training.log_every": 1}


def start(project: Path, pause_at_step: int | None = None) -> tuple[subprocess.Popen, Path, Path]:
    """``kedro run --pipelines=training`` in the background; output goes to files (a paused
    process must not block on a full pipe)."""
    env = dict(os.environ)
    env.update(KEDRO_DISABLE_TELEMETRY="true", MLFLOW_DISABLE_TELEMETRY="true", MPLBACKEND="Agg",
               PYTHONUNBUFFERED="1", MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}")
    marker = project / f"paused-{time.monotonic_ns()}"
    if pause_at_step is not None:
        env.update(METAL_TEST_PAUSE_AT_STEP=str(pause_at_step), METAL_TEST_PAUSE_MARKER=str(marker),
                   PYTHONPATH=os.pathsep.join([str(PAUSE_SITE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    out = project / f"{marker.name}.log"
    kedro = Path(sys.executable).with_name("kedro")
    with open(out, "w") as log:
        proc = subprocess.Popen([str(kedro), "run", "--pipelines=training", "--params", params_arg(PARAMS)],
                                cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, marker, out


def wait_for_pause(proc: subprocess.Popen, marker: Path, out: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"kedro exited ({proc.returncode}) before the pause:\n{out.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no pause within {timeout} s:\n{out.read_text()[-4000:]}")
        time.sleep(0.05)


def finish(proc: subprocess.Popen, out: Path, timeout: float = 600) -> tuple[int, str]:
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return rc, out.read_text()


def checkpoints(project: Path) -> Path:
    [folder] = list((project / "data" / "06_models").glob("widget-*/checkpoints"))
    return folder


def as_logged(path: Path, project: Path) -> Path:
    """The path as the log names it (relative to the project: checkpoint_root is data/06_models)."""
    return path.relative_to(project)


def client_for(project: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def runs_oldest_first(project: Path):
    client = client_for(project)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return sorted(runs, key=lambda r: r.info.start_time)


def steps(client: MlflowClient, run_id: str, key: str = "train_loss") -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    previous_uri = mlflow.get_tracking_uri()
    project = make_project(tmp_path_factory.mktemp("killed"))
    make_mvtec_category(project / "data" / "01_raw" / "mvtec_ad", "widget", n_train=12, n_test_good=2,
                        defects={"crack": 1}, sizes=[(48, 48)])
    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true", MLFLOW_DISABLE_TELEMETRY="true",
               MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}")
    ingest = subprocess.run([str(Path(sys.executable).with_name("kedro")), "run", "--pipelines=ingestion",
                             "--params", params_arg(PARAMS)], cwd=project, env=env, capture_output=True,
                            text=True, timeout=600)
    assert ingest.returncode == 0, ingest.stdout[-3000:] + ingest.stderr[-3000:]
    [train_npz] = list((project / "data" / "05_model_input").glob("*/train.npz"))
    per_epoch = math.ceil(len(ImageSetDataset(str(train_npz)).load()) / PARAMS["training.batch_size"])
    assert per_epoch >= 2, "each epoch needs two steps or more, so a pause can land mid-epoch"

    reference = tmp_path_factory.mktemp("uninterrupted") / "project"
    shutil.copytree(project, reference)  # the same data and split, its own MLflow database
    ref_proc, _, ref_out = start(reference)

    # 1. SIGKILL in the middle of epoch 5 (second step); the last checkpoint is epoch 3
    proc, marker, out = start(project, pause_at_step=4 * per_epoch + 2)
    wait_for_pause(proc, marker, out)
    killed_epoch_on_disk = torch.load(checkpoints(project) / "last.pt", weights_only=True)["epoch"]
    os.kill(proc.pid, signal.SIGKILL)
    killed_rc, killed_log = finish(proc, out)
    killed_runs = runs_oldest_first(project)

    # 2. resume (from epoch 3), SIGTERM in the middle of epoch 7 (the 4th epoch of this process)
    proc, marker, out = start(project, pause_at_step=3 * per_epoch + 2)
    wait_for_pause(proc, marker, out)
    os.kill(proc.pid, signal.SIGTERM)
    marker.unlink()
    term_rc, term_log = finish(proc, out)
    term_epoch_on_disk = torch.load(checkpoints(project) / "last.pt", weights_only=True)["epoch"]

    # 3. resume to the end
    proc, _, out = start(project)
    final_rc, final_log = finish(proc, out)
    final_last = torch.load(checkpoints(project) / "last.pt", weights_only=True)
    final_best = torch.load(checkpoints(project) / "best.pt", weights_only=True)

    ref_rc, ref_log = finish(ref_proc, ref_out)
    assert ref_rc == 0, ref_log[-4000:]

    # 4. a truncated last.pt
    last = checkpoints(project) / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    proc, _, out = start(project)
    trunc_rc, trunc_log = finish(proc, out)

    yield {
        "project": project, "reference": reference, "per_epoch": per_epoch,
        "killed": (killed_rc, killed_log, killed_epoch_on_disk, killed_runs),
        "term": (term_rc, term_log, term_epoch_on_disk),
        "final": (final_rc, final_log, final_last, final_best),
        "trunc": (trunc_rc, trunc_log),
    }
    mlflow.set_tracking_uri(previous_uri)


def test_sigkill_leaves_a_running_run_that_the_resume_marks_killed(sequence):
    rc, log, on_disk, runs_after_kill = sequence["killed"]
    assert rc == -signal.SIGKILL and on_disk == 3
    [killed] = runs_after_kill
    assert killed.info.status == "RUNNING"  # what a SIGKILL leaves behind
    runs = runs_oldest_first(sequence["project"])
    assert [r.info.run_name for r in runs] == [killed.info.run_name] * 4
    first, second, third, fourth = runs
    assert first.info.run_id == killed.info.run_id
    assert first.info.status == "KILLED"
    assert first.data.tags["metal.marked_killed_by"] == second.info.run_id
    assert second.data.tags["metal.continues_killed_runs"] == first.info.run_id
    assert "was left RUNNING by a process that no longer exists" in sequence["term"][1]
    assert [r.info.status for r in runs[1:]] == ["FAILED", "FINISHED", "FINISHED"]


def test_sigterm_saves_the_epoch_in_progress_and_exits_with_one_paragraph(sequence):
    rc, log, on_disk = sequence["term"]
    assert rc == 1 and on_disk == 7  # epoch 7 was not a regular checkpoint (every 3)
    assert "Traceback" not in log
    last = as_logged(checkpoints(sequence["project"]) / "last.pt", sequence["project"])
    assert f"Error: Training stopped by SIGTERM at the end of epoch 7; its state is saved in {last}." in log
    assert log.count("SIGTERM received: finishing the current epoch") == 1
    assert "run the same command again to resume" in log
    second = runs_oldest_first(sequence["project"])[1]
    assert second.data.tags["metal.interrupted"] == "SIGTERM after epoch 7"
    assert second.data.tags["metal.resumed_from_epoch"] == "3"


def test_every_attempts_mlflow_history_starts_at_epoch_1_without_a_gap(sequence):
    client = client_for(sequence["project"])
    first, second, third, fourth = runs_oldest_first(sequence["project"])
    assert steps(client, first.info.run_id) == [1, 2, 3, 4]  # what the killed process logged
    assert steps(client, second.info.run_id) == list(range(1, 8))  # 1-3 from the checkpoint, 4-7 trained
    assert third.data.tags["metal.resumed_from_epoch"] == "7"
    for key in ("train_loss", "val_loss", "epoch_seconds", "train_l1"):
        assert steps(client, third.info.run_id, key) == list(range(1, MAX_EPOCHS + 1)), key
    for key in ("best_val_loss", "best_epoch"):  # plus the run-end summary the node logs under the same key
        assert steps(client, third.info.run_id, key) == list(range(0, MAX_EPOCHS + 1)), key
    assert "Logged epochs 1-7 from the checkpoint" in sequence["final"][1]
    # the values are the uninterrupted run's
    [reference] = runs_oldest_first(sequence["reference"])
    ref_client = client_for(sequence["reference"])
    for key in ("train_loss", "val_loss", "best_val_loss"):
        ours = {m.step: m.value for m in client.get_metric_history(third.info.run_id, key)}
        theirs = {m.step: m.value for m in ref_client.get_metric_history(reference.info.run_id, key)}
        assert ours == theirs, key


def test_kill_then_resume_ends_bit_identical_to_an_uninterrupted_run(sequence):
    rc, log, last, best = sequence["final"]
    assert rc == 0, log[-4000:]
    assert last["epoch"] == MAX_EPOCHS and last["finished"]
    ref = checkpoints(sequence["reference"])
    ref_last = torch.load(ref / "last.pt", weights_only=True)
    ref_best = torch.load(ref / "best.pt", weights_only=True)
    for ours, theirs in ((last["model"], ref_last["model"]), (best["model"], ref_best["model"])):
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert last["history"] == [{**h, "seconds": a["seconds"]} for h, a in zip(ref_last["history"], last["history"])]


def test_truncated_last_checkpoint_falls_back_to_best_through_kedro_run(sequence):
    rc, log = sequence["trunc"]
    assert rc == 0, log[-4000:]
    ck = checkpoints(sequence["project"])
    last, best = (as_logged(ck / name, sequence["project"]) for name in ("last.pt", "best.pt"))
    warnings = [line for line in log.splitlines() if " WARNING metal_pipeline.training" in line]
    assert len(warnings) == 1 and f"Cannot read {last} (RuntimeError: " in warnings[0], warnings
    assert f"Resuming from {best} instead (epoch {sequence['final'][3]['epoch']}" in warnings[0]
    assert "Traceback" not in log
    torch.load(ck / "last.pt", weights_only=True)  # readable again
    client = client_for(sequence["project"])
    fourth = runs_oldest_first(sequence["project"])[3]
    assert fourth.data.tags["metal.resumed_from"] == "best.pt (last.pt was unreadable)"
    best_epoch = sequence["final"][3]["epoch"]
    assert steps(client, fourth.info.run_id)[:best_epoch] == list(range(1, best_epoch + 1))
    assert steps(client, fourth.info.run_id) == list(range(1, MAX_EPOCHS + 1))
