"""Run the real project (its conf/, its package) in a temporary folder with ``kedro run``.

The temporary project gets a copy of ``pyproject.toml`` and ``conf/``, empty
data layers and its own SQLite MLflow database, so tests never touch the
repository's ``data/`` or ``mlflow.db``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: A model and protocol small enough for a few seconds of CPU.
TINY_PARAMS = {
    "ingestion.img_size": 32,
    "model.patch_size": 8,
    "model.embed_dim": 16,
    "model.num_heads": 2,
    "model.decoder_hidden": 32,
    "training.max_epochs": 3,
    "training.min_epochs": 0,
    "training.batch_size": 4,
    "training.progress": "false",
    "training.num_threads": 1,
    "scoring.sigma": 1.0,
    "scoring.seg_head.steps": 4,
    "scoring.seg_head.batch_size": 4,
    "scoring.seg_head.width": 4,
    "scoring.seg_head.levels": 2,
    "heatmaps.export_resolution": "original",
    "evaluation.panel_rows": 3,
}


def make_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(PROJECT_ROOT / ".telemetry", root / ".telemetry")
    (root / "src").mkdir()  # Kedro checks it exists; the package itself comes from the installed project
    for layer in ("01_raw", "02_intermediate", "05_model_input", "06_models", "07_model_output", "08_reporting"):
        (root / "data" / layer).mkdir(parents=True)
    return root


def params_arg(params: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in params.items())


def kedro_run(project: Path, pipeline: str, params: dict, timeout: int = 600,
              extra_args: tuple[str, ...] = (), env_extra: dict | None = None,
              pipeline_option: str = "--pipelines") -> subprocess.CompletedProcess:
    """``kedro run <pipeline_option>=<pipeline> --params ...`` in ``project`` (``pipeline_option="--pipeline"``:
    Kedro's deprecated alias, as the design card spells it)."""
    env = dict(os.environ)
    env.update(
        KEDRO_DISABLE_TELEMETRY="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}",
        MPLBACKEND="Agg",
        PYTHONUNBUFFERED="1",
    )
    kedro = Path(sys.executable).with_name("kedro")
    env.update(env_extra or {})
    cmd = [str(kedro), "run", f"{pipeline_option}={pipeline}", "--params", params_arg(params), *extra_args]
    return subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=timeout)


def run_layout(project: Path, class_name: str = "widget", name: str | None = None) -> dict[str, Path]:
    """Folders of the one training run of ``class_name`` in ``project`` (or of run ``name``).

    Keys: ``name`` (the run name, as a Path), ``model`` (data/06_models/<run>),
    ``scored`` (its scoring-<hash> folder with detector.pt, model_card.json),
    ``output`` (data/07_model_output/<run>/<scoring>), ``reports``
    (data/08_reporting/<run>/<scoring>), ``history`` (data/08_reporting/<run>),
    ``split`` (data/05_model_input/<split>).
    """
    import json

    models = project / "data" / "06_models"
    runs = sorted(p.parent for p in models.glob(f"{class_name}-*/training_summary.json"))
    if name is not None:
        runs = [r for r in runs if r.name == name]
    assert len(runs) == 1, f"expected one {class_name} run, found {[r.name for r in runs]}"
    run = runs[0]
    scorings = sorted(p.name for p in run.glob("scoring-*"))
    assert len(scorings) == 1, f"expected one scoring folder in {run}, found {scorings}"
    summary = json.loads((run / "training_summary.json").read_text())
    return {
        "name": Path(run.name),
        "model": run,
        "scored": run / scorings[0],
        "output": project / "data" / "07_model_output" / run.name / scorings[0],
        "reports": project / "data" / "08_reporting" / run.name / scorings[0],
        "history": project / "data" / "08_reporting" / run.name,
        "split": project / "data" / "05_model_input" / summary["split"]["name"],
    }


@contextlib.contextmanager
def grid_mlflow_runs(project: Path, parent_name: str, max_results: int = 100):
    """The project's MLflow store: ``(client, experiment_id, all runs, the parent run named parent_name)``;
    the process's tracking URI is put back afterwards."""
    import mlflow
    from mlflow.tracking import MlflowClient

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    try:
        client = MlflowClient()
        experiment_id = client.get_experiment_by_name("metal-pipeline").experiment_id
        found = client.search_runs([experiment_id], max_results=max_results)
        [parent] = [r for r in found if r.info.run_name == parent_name]
        yield client, experiment_id, found, parent
    finally:
        mlflow.set_tracking_uri(previous)
