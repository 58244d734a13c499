"""Log a trained detector to MLflow, register it, and load it back by name.

Registered models are named ``metal-<class>-<configuration>``; each version is
tagged with class, configuration, masking, seed, git commit and the decision
threshold so the MLflow UI can filter and compare them.
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import mlflow.pytorch
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)

MODEL_ARTIFACT_NAME = "model"


def registered_model_name(class_name: str, configuration: str) -> str:
    return f"metal-{class_name}-{configuration}"


def log_and_register(model, name: str, tags: dict[str, Any]) -> dict[str, Any]:
    """Log ``model`` (pytorch flavour) to the active run and register a new version.

    Returns a JSON-able card: registered name, version, ``models:/`` URI, run id.
    """
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_and_register needs an active MLflow run (kedro-mlflow starts one per kedro run)")
    str_tags = {k: str(v) for k, v in tags.items()}
    info = mlflow.pytorch.log_model(
        model,
        name=MODEL_ARTIFACT_NAME,
        registered_model_name=name,
        metadata=str_tags,
        # The whole module is pickled so scoring settings and threshold travel with it
        # (MLflow 3's default "pt2" export keeps only the traced forward graph).
        serialization_format="pickle",
        pip_requirements=[f"torch=={_torch_version()}"],
    )
    client = MlflowClient()
    version = info.registered_model_version
    if version is None:  # older MLflow: look it up by run
        versions = client.search_model_versions(f"name='{name}' and run_id='{run.info.run_id}'")
        version = max(int(v.version) for v in versions)
    for key, value in str_tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    card = {
        "registered_model_name": name,
        "version": int(version),
        "model_uri": f"models:/{name}/{version}",
        "run_id": run.info.run_id,
        "tags": str_tags,
    }
    logger.info("Registered %s version %s (run %s)", name, version, run.info.run_id)
    return card


def find_registered_version(name: str, tags: dict[str, Any]) -> dict[str, Any] | None:
    """The newest version of ``name`` whose tags include ``tags``, as a card like
    :func:`log_and_register` returns, or None (also when the model is not registered)."""
    client = MlflowClient()
    wanted = {k: str(v) for k, v in tags.items()}
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    matching = [v for v in versions if all(v.tags.get(k) == value for k, value in wanted.items())]
    if not matching:
        return None
    best = max(matching, key=lambda v: int(v.version))
    return {
        "registered_model_name": name,
        "version": int(best.version),
        "model_uri": f"models:/{name}/{best.version}",
        "run_id": best.run_id,
        "tags": dict(best.tags),
        "reused": True,
    }


def resolve_model_uri(name: str, version: str | int | None = None, alias: str | None = None) -> str:
    """``models:/`` URI for a registered model; unknown names list what is registered."""
    client = MlflowClient()
    try:
        client.get_registered_model(name)
    except MlflowException:
        known = sorted(m.name for m in client.search_registered_models())
        raise LookupError(
            f"No registered model named '{name}' in the MLflow registry at {mlflow.get_tracking_uri()}. "
            f"Registered models: {', '.join(known) if known else '(none yet: run the train_eval pipeline first)'}."
        ) from None
    if alias:
        return f"models:/{name}@{alias}"
    if version in (None, "", "latest"):
        versions = client.search_model_versions(f"name='{name}'")
        return f"models:/{name}/{max(int(v.version) for v in versions)}"
    return f"models:/{name}/{int(version)}"


def load_registered(model_uri: str, device: str = "cpu"):
    """Load a logged detector (a torch module) from any MLflow model URI."""
    return mlflow.pytorch.load_model(model_uri, map_location=device)


def _torch_version() -> str:
    import torch

    return torch.__version__.split("+")[0]
