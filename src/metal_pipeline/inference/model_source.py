"""Where the ``predict`` pipeline gets its detector: the MLflow Model Registry or a local file.

* Registry: a registered name (``metal-<class>-<recipe>-<config>-<masking>``,
  ``tracking.registry.registered_model_name``) and a version (``latest`` = the
  highest version number) or an alias (``@champion``). The registered model is
  the pyfunc model of ``inference.pyfunc_model``; what is loaded here is its
  ``detector.pt`` artifact, the same detector file as the local one.
  The tracking/registry URI is whatever MLflow is set to (kedro-mlflow sets it
  from ``conf/base/mlflow.yml`` when ``kedro run`` starts).
* Local file: the detector file written by the training pipeline
  (``data/06_models/<run name>/scoring-<hash>/detector.pt``).

Both are read with ``torch.load(weights_only=True)``
(:mod:`metal_pipeline.inference.detector_file`), which runs no code stored in
the file. Older, pickled detector files and models registered before this
format are refused by default; ``allow_pickle=True`` (or
``METAL_ALLOW_PICKLE=1``) loads them, running their pickle code, and is only
for files you produced and registries you trust.

Every failure a user can fix (unknown name, missing version or alias, missing
or corrupt file, a file that holds something else) is a ``DataError`` naming
what exists.
"""

from __future__ import annotations

import logging
from pathlib import Path

from metal_pipeline.data.errors import DataError
from metal_pipeline.inference.detector import AnomalyDetector

logger = logging.getLogger(__name__)


def parse_version(version: str | int | None) -> int | None:
    """``None`` / ``""`` / ``"latest"`` -> ``None`` (latest); ``3`` / ``"3"`` -> 3; anything else a DataError."""
    if version is None or (isinstance(version, str) and version.strip().lower() in ("", "latest")):
        return None
    if isinstance(version, bool):
        raise DataError(f"predict.model_version must be 'latest' or a version number, got {version!r}.")
    try:
        number = int(str(version).strip())
    except ValueError as exc:
        raise DataError(f"predict.model_version must be 'latest' or a version number, got {version!r}.") from exc
    if number < 1:
        raise DataError(f"predict.model_version must be >= 1 (MLflow versions start at 1), got {version!r}.")
    return number


def _check_detector(obj: object, source: str) -> AnomalyDetector:
    if not isinstance(obj, AnomalyDetector):
        raise DataError(f"{source} holds a {type(obj).__module__}.{type(obj).__name__}, not an AnomalyDetector "
                        "(network + scoring rule + threshold). Fix: use the detector.pt written by the training "
                        "pipeline, or a model it registered (metal-<class>-<recipe>-<config>-<masking>).")
    return obj


def load_checkpoint(path: str | Path, device: str = "cpu", *, allow_pickle: bool | None = None) -> AnomalyDetector:
    """The detector in a local ``detector.pt`` (``torch.load(weights_only=True)``).

    ``allow_pickle``: also load an older, pickled file (runs its pickle code);
    ``None`` follows ``METAL_ALLOW_PICKLE`` (off by default). See
    :func:`metal_pipeline.inference.detector_file.load_detector`.
    """
    from metal_pipeline.inference.detector_file import load_detector

    path = Path(path)
    if not path.is_file():
        raise DataError(f"Checkpoint '{path}' (predict.checkpoint) does not exist. Fix: train first "
                        "(kedro run --pipelines=train_eval --params class=<class>), which writes "
                        "data/06_models/<run name>/scoring-<hash>/detector.pt, or correct the path.")
    obj = load_detector(path, device=device, allow_pickle=allow_pickle,
                        source=f"Checkpoint '{path}' (predict.checkpoint)")
    detector = _check_detector(obj, f"Checkpoint '{path}'")
    logger.info("Loaded detector from '%s'", path)
    return detector


def load_from_registry(name: str, version: str | int | None = "latest", alias: str | None = None,
                       device: str = "cpu", *, allow_pickle: bool | None = None) -> AnomalyDetector:
    """A registered detector by name and version or alias (both given: a DataError unless version is latest).

    The model's detector file is read with ``weights_only=True``; versions registered before that format
    (pickled) need ``allow_pickle=True`` or ``METAL_ALLOW_PICKLE=1`` (trusted registries only).
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from metal_pipeline.tracking.registry import load_registered, resolve_model_uri

    number = parse_version(version)
    alias = None if alias is None or not str(alias).strip() else str(alias).strip()
    if alias is not None and number is not None:
        raise DataError(f"Both predict.model_version={version!r} and predict.model_alias={alias!r} are set; "
                        "choose one (set the other to null / latest).")
    try:
        uri = resolve_model_uri(name, version=number, alias=alias)
    except LookupError as exc:
        raise DataError(f"{exc} Fix: pass one of them with --params predict.model_name=<name>, or train this "
                        "class, recipe, configuration and masking first (the name is "
                        "metal-<class>-<recipe>-<config>-<masking>).") from exc
    try:
        obj = load_registered(uri, device=device, allow_pickle=allow_pickle)
    except MlflowException as exc:
        client = MlflowClient()
        versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
        aliases = sorted(getattr(client.get_registered_model(name), "aliases", {}) or {})
        asked = f"alias '{alias}'" if alias else f"version {number}"
        raise DataError(f"Registered model '{name}' has no {asked} ({' '.join(str(exc).split())}). "
                        f"Versions: {', '.join(map(str, versions)) or 'none'}; aliases: "
                        f"{', '.join(aliases) or 'none'}. Fix: pass predict.model_version=<version> or "
                        "predict.model_alias=<alias>, or leave both at their defaults for the latest version.") from exc
    detector = _check_detector(obj, f"Registered model {uri}")
    logger.info("Loaded detector %s", uri)
    return detector
