"""Kedro project settings.

Config files are split per pipeline (``parameters_<pipeline>.yml``,
``catalog_<pipeline>.yml``) the way the spaceflights starter does it; Kedro's
default patterns already pick them up.
"""

import os
import warnings

from kedro.config import OmegaConfigLoader

# This project runs offline: no tool should try to phone home.
for _var in ("KEDRO_DISABLE_TELEMETRY", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK"):
    os.environ.setdefault(_var, "true")

# kedro-mlflow imports an MLflow pyfunc wrapper we do not use; its import-time
# advice about type hints is noise in every `kedro` command.
warnings.filterwarnings("ignore", message=".*Add type hints to the `predict` method.*")

from metal_pipeline.hooks import FriendlyErrorHooks, RunIdentityHooks, resolve_run
from metal_pipeline.recipes import recipe_value


def _env(name: str, default: str | None = None) -> str | None:
    """``${env:NAME, default}``: Kedro keeps ``oc.env`` for credentials only."""
    return os.environ.get(name, default)


# RunIdentityHooks validates the parameters and publishes ${run:...} before any
# other hook (kedro-mlflow's included) reads the catalog or mlflow.yml.
HOOKS = (RunIdentityHooks(), FriendlyErrorHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"env": _env, "run": resolve_run, "recipe_default": recipe_value},
}
