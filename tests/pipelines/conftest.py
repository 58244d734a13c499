"""Helpers of the pipeline tests (``kedro_project``: ``kedro run`` in a temporary project;
``in_memory``: one pipeline through ``SequentialRunner``) are importable from every folder below."""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow
import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

#: MLflow's logging functions; a node that calls one without an active run fails the test.
MLFLOW_CALLS = ("start_run", "log_metric", "log_metrics", "log_param", "log_params", "set_tag", "set_tags",
                "log_dict", "log_text", "log_figure", "log_artifact", "log_artifacts")


@pytest.fixture
def no_mlflow(monkeypatch, tmp_path):
    """No MLflow run and no store (as in a session whose tracking is off): any MLflow logging call a
    node makes without checking ``mlflow.active_run()`` raises, and no tracking store is created."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert mlflow.active_run() is None

    def forbidden(name):
        def call(*args, **kwargs):
            raise AssertionError(f"mlflow.{name} called without an active MLflow run")
        return call

    for name in MLFLOW_CALLS:
        monkeypatch.setattr(mlflow, name, forbidden(name))
    yield
    assert mlflow.active_run() is None
    assert not (tmp_path / "mlflow.db").exists()
