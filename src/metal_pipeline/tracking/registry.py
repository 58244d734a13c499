"""Log a trained detector to MLflow, register it, and load it back by name.

Registered models are named ``metal-<class>-<recipe>-<configuration>-<masking>``
(:func:`registered_model_name`: the run name of ``run_identity.run_name``
without seed and hash), so models of another recipe, configuration or masking
are never versions of one model, while seeds and retrains of one setting are.
Each version is tagged with class, recipe, configuration, masking, seed, run
name, git commit and the decision threshold so the MLflow UI can filter and
compare them.

The logged model is a ``python_function`` model
(:mod:`metal_pipeline.inference.pyfunc_model`): image bytes in, score,
decision and anomaly map out, with a signature, an input example, this package
as ``code_paths`` and pinned pip requirements, so it loads and serves where
this project is not installed. The ``AnomalyDetector`` itself is its artifact
``detector.pt``, a detector file (:mod:`metal_pipeline.inference.detector_file`:
tensors and plain values, read with ``torch.load(weights_only=True)``), what
:func:`load_registered` returns. Loading the pyfunc model with
``mlflow.pyfunc.load_model`` runs the Python code stored with it (its
``code_paths`` and models-from-code file), so load models only from
registries you trust.

The first version of a name gets the alias ``champion`` (:data:`CHAMPION`);
later versions do not move it: which retrain to use is a decision made by
comparing metrics (``MlflowClient().set_registered_model_alias``), not a side
effect of training. ``models:/<name>/latest`` (or ``predict.model_version``)
follows the newest version instead.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from metal_pipeline.run_identity import masking_of

logger = logging.getLogger(__name__)

MODEL_ARTIFACT_NAME = "model"
CHAMPION = "champion"
"""Alias set on the first version of a registered model (the one to use until someone moves it)."""


def registered_model_name(class_name: str, recipe: str, configuration: str, masking: str) -> str:
    """``metal-<class>-<recipe>-<configuration>-<masking>``, e.g. ``metal-bottle-default-squares_rows-strict``
    (``none`` is the masking of ``squares_nomask``, whatever ``masking`` says)."""
    return f"metal-{class_name}-{recipe}-{configuration}-{masking_of(configuration, masking)}"


def log_and_register(detector, name: str, tags: dict[str, Any]) -> dict[str, Any]:
    """Log ``detector`` as the pyfunc model to the active run and register a new version of ``name``.

    The first version of ``name`` (or the first after its ``champion`` alias was
    removed) gets the alias ``champion``. Returns a JSON-able card: registered
    name, version, ``models:/`` URI, run id, tags, aliases set.
    """
    from metal_pipeline.inference import pyfunc_model
    from metal_pipeline.inference.detector_file import save_detector

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_and_register needs an active MLflow run (kedro-mlflow starts one per kedro run)")
    str_tags = {k: str(v) for k, v in tags.items()}
    with tempfile.TemporaryDirectory(prefix="metal-model-") as tmp:
        detector_path = Path(tmp) / "detector.pt"
        # Weights, scoring settings and threshold as one detector file (no pickled objects).
        save_detector(detector, detector_path)
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT_NAME,
            python_model=pyfunc_model.model_code_file(),  # models from code: the PythonModel is not pickled
            artifacts={pyfunc_model.DETECTOR_ARTIFACT: str(detector_path)},
            code_paths=[pyfunc_model.package_dir()],
            signature=pyfunc_model.model_signature(),
            input_example=pyfunc_model.input_example(detector.channels),
            pip_requirements=pyfunc_model.pip_requirements(),
            registered_model_name=name,
            metadata=str_tags,
        )
    client = MlflowClient()
    version = info.registered_model_version
    if version is None:  # older MLflow: look it up by run
        versions = client.search_model_versions(f"name='{name}' and run_id='{run.info.run_id}'")
        version = max(int(v.version) for v in versions)
    for key, value in str_tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    aliases = []
    if CHAMPION not in (client.get_registered_model(name).aliases or {}):
        client.set_registered_model_alias(name, CHAMPION, str(version))
        aliases.append(CHAMPION)
    card = {
        "registered_model_name": name,
        "version": int(version),
        "model_uri": f"models:/{name}/{version}",
        "run_id": run.info.run_id,
        "tags": str_tags,
        "aliases": aliases,
    }
    logger.info("Registered %s version %s (run %s)%s", name, version, run.info.run_id,
                f", alias {CHAMPION}" if aliases else "")
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


def load_registered(model_uri: str, device: str = "cpu", *, allow_pickle: bool | None = None):
    """The ``AnomalyDetector`` of a logged model, from any MLflow model URI.

    Only the pyfunc model's ``detector.pt`` artifact is downloaded and read, with
    this process's ``metal_pipeline`` (not the copy logged as ``code_paths``) and
    ``torch.load(weights_only=True)``: no code stored in the registry runs.
    Models registered before that format (a pickled detector artifact, or the
    pytorch flavour) are unpickled only with ``allow_pickle=True`` or
    ``METAL_ALLOW_PICKLE=1`` (a warning says so); otherwise they are refused
    with a ``DetectorFileError`` naming the model and the fix.
    """
    from mlflow.models import Model
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    from metal_pipeline.inference import pyfunc_model
    from metal_pipeline.inference.detector_file import (ALLOW_PICKLE_ENV, DetectorFileError, load_detector,
                                                        pickle_allowed)

    pickle_fix = (f"if you trust this registry (its models run their own code when loaded with "
                  f"mlflow.pyfunc.load_model anyway), allow pickle for this command with {ALLOW_PICKLE_ENV}=1; "
                  "or train and register a new version, which is written in the current format")
    repo = get_artifact_repository(model_uri)
    with tempfile.TemporaryDirectory(prefix="metal-model-") as tmp:
        flavors = Model.load(repo.download_artifacts("MLmodel", dst_path=tmp)).flavors
        if "pytorch" in flavors:
            if not pickle_allowed(allow_pickle):
                raise DetectorFileError(
                    f"Registered model {model_uri} was not loaded: it was logged with MLflow's pytorch flavour (a "
                    "whole pickled detector, from before the pyfunc model), and unpickling it runs code stored in "
                    f"the registry. Fix: {pickle_fix}.")
            from mlflow import pytorch as mlflow_pytorch

            logger.warning("Loading %s, a pickled pytorch-flavour model, because %s: this runs code stored in the "
                           "registry; do it only for registries you trust.", model_uri,
                           "allow_pickle=True was passed" if allow_pickle else f"{ALLOW_PICKLE_ENV} is set")
            return mlflow_pytorch.load_model(model_uri, map_location=device)
        artifact = flavors.get("python_function", {}).get("artifacts", {}).get(pyfunc_model.DETECTOR_ARTIFACT)
        if artifact is None:
            raise MlflowException(f"{model_uri} is neither a MeTAL pyfunc model (no '{pyfunc_model.DETECTOR_ARTIFACT}' "
                                  "artifact) nor a pytorch model")
        # Only the detector is needed here (not the logged code copy or the examples).
        path = repo.download_artifacts(artifact["path"], dst_path=tmp)
        return load_detector(path, device=device, allow_pickle=allow_pickle, pickle_fix=pickle_fix,
                             source=f"The '{pyfunc_model.DETECTOR_ARTIFACT}' artifact of registered model {model_uri}")
