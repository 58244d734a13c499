"""Kedro project settings.

Config files are split per pipeline (``parameters_<pipeline>.yml``,
``catalog_<pipeline>.yml``) the way the spaceflights starter does it; Kedro's
default patterns already pick them up.
"""

import os
import warnings

from kedro import KedroDeprecationWarning
from kedro.config import OmegaConfigLoader

# This project runs offline: no tool should try to phone home.
for _var in ("KEDRO_DISABLE_TELEMETRY", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK"):
    os.environ.setdefault(_var, "true")

# `--pipeline` is Kedro 1.x's deprecated alias of `--pipelines`, and the design
# card's command (`kedro run --pipeline=train_eval --params class=bottle`) uses it.
# kedro==1.7.0 is pinned in pyproject.toml, so the alias keeps working; its notice
# would be printed on every such run. The docs use --pipelines (README, "Run").
warnings.filterwarnings("ignore", message=r"Option '--pipeline' is deprecated", category=KedroDeprecationWarning)

from metal_pipeline.baselines.methods import resolve_table4_grid
from metal_pipeline.grid import resolve_ablation_grid, resolve_fixed_split
from metal_pipeline.hooks import FriendlyErrorHooks, RunIdentityHooks, resolve_run
from metal_pipeline.recipes import recipe_value
from metal_pipeline.runners.parallel_support import ParallelRunnerSupport
from metal_pipeline.tracking.availability import apply_http_defaults
from metal_pipeline.tracking.grid_runs import GridRunsHook
from metal_pipeline.tracking.hook import TrackingHook
from metal_pipeline.utils.precision import resolve_amp_setting

# A tracking server that stops answering during a run: fail in about a minute,
# not after MLflow's ~4 minutes of retries (a user's own MLFLOW_HTTP_* values win).
apply_http_defaults()


def _env(name: str, default: str | None = None) -> str | None:
    """``${env:NAME, default}``: Kedro keeps ``oc.env`` for credentials only."""
    return os.environ.get(name, default)


# RunIdentityHooks validates the parameters and publishes ${run:...} before any
# other hook (kedro-mlflow's included) reads the catalog or mlflow.yml.
# TrackingHook is kedro-mlflow's hook with a reachability check in front
# (metal_pipeline/tracking/hook.py); it replaces the one the plugin registers.
# GridRunsHook gives every run of the ablation grid its own MLflow run nested under
# kedro-mlflow's, and logs run k/N with an ETA (metal_pipeline/tracking/grid_runs.py).
# ParallelRunnerSupport makes the catalog picklable for Kedro's ParallelRunner
# (metal_pipeline/runners/parallel_support.py; it does nothing for the other runners).
HOOKS = (RunIdentityHooks(), FriendlyErrorHooks(), TrackingHook(), GridRunsHook(), ParallelRunnerSupport())
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow", "kedro_mlflow")  # the distribution name, as spelt by packaging tools

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"env": _env, "run": resolve_run, "recipe_default": recipe_value,
                         # amp "auto": bf16 where the device has it natively, else off (utils/precision.py)
                         "amp": resolve_amp_setting,
                         # the ablation grid's namespaces and their split (metal_pipeline/grid.py)
                         "ablation_grid": resolve_ablation_grid, "fixed_split": resolve_fixed_split,
                         # the Table 4-style comparison's namespaces (metal_pipeline/baselines/methods.py)
                         "table4_grid": resolve_table4_grid},
}
