"""Issue 11, cases 1, 2 and 10: split integrity and run identity, end to end with ``kedro run``.

A Head-CT-style labelled class is used because its test set depends on the
seed (the seeded draw of training normals), which is what made case 1 leak:
a failed run with another seed rewrote the split, and ``--from-nodes
score_test_set`` then scored the model's own training images.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipelines"))
from kedro_project import TINY_PARAMS, kedro_run, make_project, run_layout  # noqa: E402
from synthetic import make_labelled_folder  # noqa: E402

from metal_pipeline.datasets import ImageSetDataset  # noqa: E402

LAYERS = ("05_model_input", "06_models", "07_model_output", "08_reporting")
MODEL_NAME = "metal-ct-default-squares_rows-strict"  # registry.registered_model_name of the default recipe


def files_under(project: Path, names: list[str]) -> dict[str, str]:
    """sha256 of every file in data/<layer>/<name>/ for the given folder names."""
    out = {}
    for layer in LAYERS:
        for name in names:
            for p in sorted((project / "data" / layer / name).rglob("*")):
                if p.is_file():
                    out[str(p.relative_to(project))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def registered_versions(project: Path) -> int:
    previous = mlflow.get_tracking_uri()
    try:
        client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
        return len(client.search_model_versions(f"name='{MODEL_NAME}'"))
    finally:
        mlflow.set_tracking_uri(previous)


def names_of(npz: Path) -> list[str]:
    return list(ImageSetDataset(str(npz)).load().names)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("split"))
    folder = make_labelled_folder(project / "data" / "01_raw", "ct", n_normal=14, n_anomalous=4)
    params = {"class": "ct", "ingestion.class_paths.ct": str(folder), "ingestion.head_ct.n_train_normal": 10,
              **TINY_PARAMS, "training.max_epochs": 2}
    result = kedro_run(project, "train_eval", params)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project, params, run_layout(project, "ct")


@pytest.fixture(scope="module")
def failed_seed1(project):
    """The same command with seed=1, failing after ingestion and training (maps cannot be written)."""
    project_dir, params, first = project
    before = files_under(project_dir, [first["name"].name, first["split"].name])
    blocked = project_dir / "blocked"
    blocked.write_text("a file where the maps folder should be")
    result = kedro_run(project_dir, "train_eval", {**params, "seed": 1, "heatmaps.output_root": str(blocked)})
    assert result.returncode != 0
    return before, result


def test_changed_seed_gives_a_new_split_and_run_and_keeps_the_old_ones(project, failed_seed1):
    project_dir, _, first = project
    before, _ = failed_seed1
    splits = sorted(p.name for p in (project_dir / "data" / "05_model_input").iterdir())
    runs = sorted(p.name for p in (project_dir / "data" / "06_models").iterdir())
    assert len(splits) == 2 and first["split"].name in splits
    assert [s for s in splits if s != first["split"].name][0].startswith("ct-32px-s1-")
    assert len(runs) == 2 and first["name"].name in runs
    assert [r for r in runs if r != first["name"].name][0].startswith("ct-default-squares_rows-strict-s1-")
    # the seed-0 split and run are byte-identical afterwards
    assert files_under(project_dir, [first["name"].name, first["split"].name]) == before


def test_from_nodes_after_a_failed_run_scores_the_models_own_test_split(project, failed_seed1):
    project_dir, params, first = project
    metrics_before = json.loads((first["reports"] / "metrics.json").read_text())
    result = kedro_run(project_dir, "train_eval", params, extra_args=("--from-nodes", "heatmaps.score_test_set"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    index = pd.read_csv(first["output"] / "anomaly_map_index.csv")
    test_names = names_of(first["split"] / "test.npz")
    train_names = names_of(first["split"] / "train.npz") + names_of(first["split"] / "val.npz")
    assert index["name"].tolist() == test_names
    assert not set(test_names) & set(train_names)  # no training image is scored as a test image
    assert json.loads((first["reports"] / "metrics.json").read_text()) == metrics_before


def test_a_test_set_of_another_split_is_refused(project, failed_seed1):
    """Even if split files are mixed by hand, the detector's split fingerprint refuses them."""
    project_dir, params, first = project
    [other] = [p for p in (project_dir / "data" / "05_model_input").iterdir() if p != first["split"]]
    original = first["split"] / "test.npz"
    saved = original.read_bytes()
    metrics_before = (first["reports"] / "metrics.json").read_bytes()
    shutil.copyfile(other / "test.npz", original)
    try:
        result = kedro_run(project_dir, "train_eval", params, extra_args=("--from-nodes", "heatmaps.score_test_set"))
    finally:
        original.write_bytes(saved)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "Error: The test set loaded" in result.stderr and first["split"].name in result.stderr
    assert (first["reports"] / "metrics.json").read_bytes() == metrics_before


def test_identical_rerun_reuses_the_finished_run_and_registers_nothing(project, failed_seed1):
    project_dir, params, first = project
    legacy = project_dir / "data" / "06_models" / "ct" / "squares_rows-paper" / "checkpoints" / "last.pt"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"a run of the old layout")
    versions = registered_versions(project_dir)
    assert versions >= 1
    card_before = json.loads((first["scored"] / "model_card.json").read_text())

    result = kedro_run(project_dir, "train_eval", params)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert f"Reusing the finished run {first['name'].name}" in log
    assert "no new model version registered" in log
    assert registered_versions(project_dir) == versions
    card = json.loads((first["scored"] / "model_card.json").read_text())
    assert card["version"] == card_before["version"] and card["run_id"] == card_before["run_id"]
    # the old layout is reported, not reused, and left alone
    assert "old layout" in log and "data/06_models/ct/squares_rows-paper" in log
    assert legacy.read_bytes() == b"a run of the old layout"
