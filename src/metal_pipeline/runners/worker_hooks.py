"""The node hooks a Dask worker runs: copies of the driver's hooks, with the state they need.

Kedro calls the session hooks (``after_context_created``, ``before_pipeline_run``, ...) in the
driver only, so a hook freshly built on a worker knows neither the MLflow run kedro-mlflow started
nor the grid. The driver therefore ships, with every task, copies made from its own hooks:

* kedro-mlflow's ``MlflowHook`` becomes :class:`MlflowWorkerHook`: the driver's tracking and
  registry URIs (a relative SQLite path made absolute), and its ``before_node_run`` with the
  driver's run id and parameter settings (re-activate the parent run by id, log the node's
  ``params:`` inputs to it, exactly as in the driver);
* a hook with a ``worker_copy()`` method gives its own copy
  (:meth:`metal_pipeline.tracking.grid_runs.GridRunsHook.worker_copy`: the grid's nested runs);
* other hooks do not run on the workers (the project's other hooks have no node hooks).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

#: kedro-mlflow's ``MlflowHook`` attributes that ``before_node_run`` reads.
_MLFLOW_STATE = ("_is_mlflow_enabled", "flatten", "recursive", "sep", "long_params_strategy", "run_id")


def absolute_tracking_uri(uri: str | None) -> str | None:
    """``sqlite:///mlflow.db`` -> ``sqlite:////<cwd>/mlflow.db``: the same file from any working folder."""
    if uri and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + os.path.abspath(uri[len("sqlite:///"):])
    return uri


class MlflowWorkerHook:
    """kedro-mlflow's node hook as a worker runs it (see the module docstring)."""

    def __init__(self, state: dict[str, Any], nested: bool, tracking_uri: str | None,
                 registry_uri: str | None) -> None:
        self.state = state
        self.nested = nested
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri
        self._hook = None

    @classmethod
    def from_driver(cls, hook) -> MlflowWorkerHook | None:
        """The copy of the driver's ``MlflowHook``; ``None`` when tracking is off for this command."""
        import mlflow

        state = {name: getattr(hook, name) for name in _MLFLOW_STATE if hasattr(hook, name)}
        if state.get("run_id") is None:
            return None
        config = getattr(hook, "mlflow_config", None)
        nested = bool(getattr(getattr(getattr(config, "tracking", None), "run", None), "nested", True))
        return cls(state, nested, absolute_tracking_uri(mlflow.get_tracking_uri()),
                   absolute_tracking_uri(mlflow.get_registry_uri()))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_hook": None}

    def connect(self) -> None:
        """Point this process's MLflow at the driver's tracking server or database."""
        import mlflow

        if self.tracking_uri and mlflow.get_tracking_uri() != self.tracking_uri:
            mlflow.set_tracking_uri(self.tracking_uri)
        if self.registry_uri and mlflow.get_registry_uri() != self.registry_uri:
            mlflow.set_registry_uri(self.registry_uri)

    def _mlflow_hook(self):
        if self._hook is None:
            from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig
            from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook

            hook = MlflowHook()
            for name, value in self.state.items():
                setattr(hook, name, value)
            config = KedroMlflowConfig()
            config.tracking.run.nested = self.nested
            hook.mlflow_config = config
            self._hook = hook
        return self._hook

    @hook_impl
    def before_node_run(self, node, catalog, inputs, is_async) -> None:
        self.connect()
        self._mlflow_hook().before_node_run(node=node, catalog=catalog, inputs=inputs, is_async=is_async)


def worker_hooks(hook_manager) -> list[Any]:
    """Copies of the driver's hooks for the workers, in the driver's registration order."""
    from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
    from pluggy import PluginManager

    if not isinstance(hook_manager, PluginManager):  # Kedro's null manager: a run without hooks
        return []
    copies = []
    for _, plugin in hook_manager.list_name_plugin():
        make = getattr(plugin, "worker_copy", None)
        if callable(make):
            copy = make()
        elif isinstance(plugin, MlflowHook):
            copy = MlflowWorkerHook.from_driver(plugin)
        else:
            continue
        if copy is not None:
            copies.append(copy)
    logger.debug("Hooks on the workers: %s", ", ".join(type(c).__name__ for c in copies) or "none")
    return copies
