"""kedro-mlflow's hook with a reachability check in front (see :mod:`.availability`).

settings.py registers :class:`TrackingHook` instead of the hook kedro-mlflow
registers itself (``DISABLE_HOOKS_FOR_PLUGINS``). While the server answers it
*is* kedro-mlflow's ``MlflowHook`` (same code, same configuration). When the
pre-flight request fails:

* ``after_context_created`` reads ``mlflow.yml`` as kedro-mlflow does but does
  not contact the server (no experiment lookup, so no minutes of retries);
* ``before_pipeline_run`` (before kedro-mlflow would start an MLflow run)
  stops a pipeline that needs tracking with one paragraph, and turns tracking
  off for one that does not (ingestion; predict from a local checkpoint).

Written against kedro-mlflow 2.0.3 (its ``after_context_created`` and
``before_pipeline_run``); ``tests/reliability/test_mlflow_unreachable.py``
checks the behaviour through ``kedro run``.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from omegaconf import OmegaConf

from metal_pipeline.errors import TrackingUnavailableError
from metal_pipeline.tracking.availability import (
    OPTIONAL,
    REQUIRED,
    Unreachable,
    find_unreachable,
    tracking_need,
    unreachable_message,
)
from metal_pipeline.tracking.quiet_import import without_type_hint_notice

with without_type_hint_notice():  # kedro-mlflow's model class makes MLflow print a notice on import
    from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig
    from kedro_mlflow.config.resolvers import resolve_random_name
    from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook

logger = logging.getLogger(__name__)


def _mlflow_config(context) -> KedroMlflowConfig:
    """``mlflow.yml`` as kedro-mlflow reads it (same patterns, same defaults), without ``setup()``."""
    if not OmegaConf.has_resolver("km.random_name"):
        with warnings.catch_warnings():  # kedro-mlflow's own call, and its deprecation notice
            warnings.simplefilter("ignore", UserWarning)
            OmegaConf.register_new_resolver("km.random_name", resolve_random_name, use_cache=True)
    try:
        if "mlflow" not in context.config_loader.config_patterns.keys():
            context.config_loader.config_patterns.update({"mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"]})
        conf = context.config_loader["mlflow"]
    except MissingConfigException:
        conf = {}
    return KedroMlflowConfig.model_validate({**conf})


def _source(configured: str | None, env_var: str, key: str) -> str:
    if configured is None or os.environ.get(env_var) == configured:
        return f"the environment variable {env_var}"
    return f"{key} in mlflow.yml"


class TrackingHook(MlflowHook):
    def __init__(self) -> None:
        super().__init__()
        self.unreachable: Unreachable | None = None
        self._params: dict[str, Any] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        import mlflow

        self.unreachable = None
        self._params = dict(context.params)
        if mlflow.active_run() is None:  # an orchestrator's active run: kedro-mlflow uses it as it is
            config = _mlflow_config(context)
            tracking = config.server.mlflow_tracking_uri
            registry = config.server.mlflow_registry_uri
            self.unreachable = find_unreachable(
                tracking if tracking is not None else os.environ.get("MLFLOW_TRACKING_URI"),
                registry if registry is not None else os.environ.get("MLFLOW_REGISTRY_URI"),
                tracking_source=_source(tracking, "MLFLOW_TRACKING_URI", "server.mlflow_tracking_uri"),
                registry_source=_source(registry, "MLFLOW_REGISTRY_URI", "server.mlflow_registry_uri"),
            )
            if self.unreachable is not None:
                # What kedro-mlflow's hook keeps, without setup(): nothing contacts the server.
                logger.debug("MLflow %s server %s does not answer: %s; kedro-mlflow's setup is skipped.",
                            self.unreachable.role, self.unreachable.uri, self.unreachable.reason)
                self._already_active_mlflow = False
                context.__setattr__("mlflow", config)
                self.mlflow_config = config
                return
        super().after_context_created(context)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        down = self.unreachable
        if down is not None:
            names = run_params.get("pipeline_names") or ["__default__"]
            if isinstance(names, str):
                names = [names]
            disabled = self.mlflow_config.tracking.disable_tracking.pipelines
            need = tracking_need(names, disabled, self._params)
            if need == REQUIRED:
                from metal_pipeline.hooks import print_without_traceback

                error = TrackingUnavailableError(unreachable_message(down, names))
                print_without_traceback(error)
                raise error
            if need == OPTIONAL:
                logger.warning("The MLflow %s server %s cannot be reached: %s. This run is not tracked. It needs no "
                               "MLflow (predict.checkpoint is a local file).", down.role, down.uri, down.reason)
            else:
                logger.info("The MLflow %s server %s cannot be reached: %s. Pipeline '%s' does not use it.",
                            down.role, down.uri, down.reason, "+".join(names))
            disabled.extend(name for name in names if name not in disabled)
        super().before_pipeline_run(run_params, pipeline, catalog)
