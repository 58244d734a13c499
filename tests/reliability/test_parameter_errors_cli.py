"""Issue 11, case 3: a bad parameter stops ``kedro run`` before any work.

An unknown class (no folder for it) and a missing data root count too: the
project hook checks the class folder before kedro-mlflow starts an MLflow run.

One paragraph on stderr naming the parameter, no traceback, a non-zero exit
code, no MLflow run, and nothing written under data/05..08.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipelines"))
from kedro_project import TINY_PARAMS, kedro_run, make_project  # noqa: E402
from synthetic import make_mvtec_category  # noqa: E402

LAYERS = ("05_model_input", "06_models", "07_model_output", "08_reporting")


def data_snapshot(project: Path) -> dict[str, str]:
    return {str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest()
            for layer in LAYERS for p in sorted((project / "data" / layer).rglob("*")) if p.is_file()}


def run_count(project: Path) -> int:
    previous = mlflow.get_tracking_uri()
    try:
        client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
        experiments = client.search_experiments()
        return sum(len(client.search_runs([e.experiment_id])) for e in experiments)
    finally:
        mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project with one earlier MLflow run and an earlier split on disk (so 'nothing changed' means something)."""
    project = make_project(tmp_path_factory.mktemp("params"))
    make_mvtec_category(project / "data" / "01_raw" / "mvtec_ad", "widget", n_train=6, n_test_good=2,
                        defects={"crack": 2})
    previous = mlflow.get_tracking_uri()
    try:
        mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
        with mlflow.start_run(experiment_id=mlflow.create_experiment("earlier")):
            mlflow.log_param("earlier", 1)
    finally:
        mlflow.set_tracking_uri(previous)
    earlier = project / "data" / "05_model_input" / "widget-32px-s0-000000"
    earlier.mkdir(parents=True)
    (earlier / "train.npz").write_bytes(b"earlier split")
    return project


@pytest.mark.parametrize("override, named", [
    ({"config": "nonsense"}, "config"),
    ({"masking": "nonsense"}, "masking"),
    ({"ingestion.img_size": 100}, "ingestion.img_size"),
    ({"training.lr": -1}, "training.lr"),
    ({"training.batch_size": 0}, "training.batch_size"),
    ({"seed": "abc"}, "seed"),
    ({"channels": 2}, "ingestion.channels"),   # a top-level typo: did you mean ingestion.channels?
    ({"trainig.lr": 1}, "trainig"),
    # no folder for the class, or no data root: checked before kedro-mlflow starts a run (it was left FAILED)
    ({"class": "nosuch"}, "Unknown class 'nosuch'"),
    ({"ingestion.data_root": "data/01_raw/nowhere"}, "ingestion.data_root"),
])
def test_bad_parameter_is_one_paragraph_and_changes_nothing(project, override, named):
    before_runs, before_data = run_count(project), data_snapshot(project)
    params = {"class": "widget", **TINY_PARAMS, **override}
    result = kedro_run(project, "train_eval", params, timeout=300)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    match = re.search(r"^Error: (.+?)(?:\n\s*\n|\Z)", result.stderr, flags=re.S | re.M)
    assert match, result.stderr[-2000:]
    paragraph = match.group(1)
    assert named in paragraph and "\n" not in paragraph.strip()
    assert run_count(project) == before_runs  # no MLflow run, not even a FAILED one
    assert data_snapshot(project) == before_data  # nothing written under data/05..08
