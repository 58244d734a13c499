"""Project hooks.

``RunIdentityHooks`` (runs first, before kedro-mlflow's hooks): as soon as
Kedro has built the context, it validates every parameter
(:mod:`metal_pipeline.params.validate`), computes the run identity
(:mod:`metal_pipeline.run_identity`) and publishes it to the ``${run:...}``
config resolver that the catalog and ``mlflow.yml`` use. A bad parameter thus
stops the command before any data is written and before kedro-mlflow starts
an MLflow run. Outputs of the old ``<class>/<config>-<masking>`` layout are
reported once per command. Before a pipeline that ingests runs, the class
folder is checked (``before_pipeline_run``, ahead of kedro-mlflow's run): an
unknown class is one paragraph and leaves no MLflow run.

``FriendlyErrorHooks``: a user-fixable error (any
:class:`~metal_pipeline.errors.MetalError`: bad parameter, bad data, a
checkpoint or split of another run) is printed as the one paragraph it
carries, without a traceback; so is a Kedro dataset that cannot be saved for
a reason the user can fix (no permission, read-only or full disk), with the
paragraph of :func:`metal_pipeline.utils.atomic.write_error`. Other errors are
bugs and keep their traceback.
``METAL_VERBOSE=1`` shows the traceback for every error.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from kedro.framework.hooks import hook_impl

from metal_pipeline import run_identity
from metal_pipeline.errors import MetalError

logger = logging.getLogger(__name__)

_IDENTITY: dict[str, str] = {}


# -- the ${run:...} resolver -------------------------------------------------------
def publish_identity(identity: run_identity.RunIdentity | None) -> None:
    _IDENTITY.clear()
    if identity is not None:
        _IDENTITY.update(identity.as_dict())
    # `%reload_kedro` imports this package afresh, but Kedro registers a resolver name with OmegaConf
    # only once: without this, ${run:...} would keep reading the first import's identity (a notebook
    # reloaded with other --params would see the first run's folders).
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("run", resolve_run, replace=True)


def resolve_run(field: str) -> str:
    """``${run:name}``, ``${run:split}``, ``${run:scoring}``, ``${run:ablation}``."""
    if field not in run_identity.RunIdentity.__dataclass_fields__:
        raise KeyError(f"${{run:{field}}}: unknown field; known: "
                       f"{', '.join(run_identity.RunIdentity.__dataclass_fields__)}")
    if not _IDENTITY:
        # Tools that read the catalog without running the project hooks (kedro viz):
        # a name no run ever writes to. `kedro run` always publishes the identity first.
        logger.debug("${run:%s} resolved before the run identity was computed", field)
        return f"_no-run-identity-{field}_"
    return _IDENTITY[field]


# -- friendly errors ----------------------------------------------------------------
def _chain(error: BaseException | None):
    seen = set()
    while error is not None and id(error) not in seen:
        yield error
        seen.add(id(error))
        error = error.__cause__ or error.__context__


def _find_project_error(error: BaseException | None) -> MetalError | None:
    return next((e for e in _chain(error) if isinstance(e, MetalError)), None)


def _failed_save(error: BaseException) -> MetalError | None:
    """A Kedro dataset that is not written atomically (JSON, CSV, figures) failing to save for a reason the
    user can fix (no permission, read-only or full disk): the same paragraph as an atomic write's."""
    from kedro.io import DatasetError

    from metal_pipeline.utils.atomic import USER_FIXABLE_ERRNOS, write_error

    saving = False
    for exc in _chain(error):
        saving = saving or (isinstance(exc, DatasetError) and "Failed while saving data" in str(exc))
        if saving and isinstance(exc, OSError) and exc.errno in USER_FIXABLE_ERRNOS and exc.filename:
            return write_error(exc.filename, exc)
    return None


def verbose() -> bool:
    return os.environ.get("METAL_VERBOSE", "").strip().lower() not in ("", "0", "false", "no")


def print_without_traceback(error: BaseException) -> None:
    """When ``error`` (or an error it caused) reaches the top, print its paragraph only."""
    project_error = _find_project_error(error) or _failed_save(error)
    if project_error is None or verbose():
        return
    previous = sys.excepthook

    def excepthook(exc_type, exc, tb):
        if any(e is project_error or e is error for e in _chain(exc)):
            print(f"\nError: {project_error}\n", file=sys.stderr)
            return
        previous(exc_type, exc, tb)

    sys.excepthook = excepthook


class FriendlyErrorHooks:
    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params, pipeline, catalog) -> None:
        print_without_traceback(error)


# -- validation and run identity -------------------------------------------------------
def _configured_defaults(context) -> dict[str, Any] | None:
    """The parameters of ``conf/`` alone (no ``--params``): the names that exist."""
    loader = context.config_loader
    try:
        from kedro.framework.project import settings

        args = dict(settings.CONFIG_LOADER_ARGS)
        args.pop("runtime_params", None)
        fresh = type(loader)(conf_source=loader.conf_source, env=loader.env, runtime_params={}, **args)
        return dict(fresh["parameters"])
    except Exception:  # noqa: BLE001 - an unusual config loader: skip the name check, not the value checks
        logger.debug("Could not load the default parameters; unknown --params names are not checked",
                     exc_info=True)
        return None


class RunIdentityHooks:
    def __init__(self) -> None:
        self._context = None
        self._reported_legacy: set[str] = set()

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        publish_identity(None)
        self._context = context
        # Before anything reads the pipeline registry (context.params below does): the ablation's
        # namespaces depend on --params configs/seeds (metal_pipeline/pipeline_registry.py).
        from metal_pipeline.pipeline_registry import use_config_loader

        use_config_loader(context.config_loader)
        try:
            from metal_pipeline.params.validate import validate_params

            params = context.params
            given = dict(getattr(context, "_runtime_params", None) or {})
            validate_params(params, given, _configured_defaults(context))
            # train_eval with seeds is named as the grid of its configuration (metal_pipeline/grid.py)
            from metal_pipeline import grid
            from metal_pipeline.pipeline_registry import requested_pipelines

            identity = run_identity.identity(grid.command_params(params, requested_pipelines()))
        except MetalError as error:
            print_without_traceback(error)
            raise
        publish_identity(identity)
        logger.info("Run %s (data split %s, maps and reports in %s/)", identity.name, identity.split,
                    identity.scoring)
        self._report_legacy(context, params)

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        """Check the class folder, then name the MLflow run after what the pipeline produces
        (kedro-mlflow starts the run next)."""
        if self._context is not None:
            self._check_class_folder(pipeline)
        config = getattr(self._context, "mlflow", None)
        if config is None or not _IDENTITY:
            return
        names = run_params.get("pipeline_names") or ["__default__"]
        params = self._context.params
        from metal_pipeline import grid

        if "baselines" in names:  # the Table 4-style comparison (metal_pipeline/baselines/methods.py)
            config.tracking.run.name = _IDENTITY["table4"]
        elif grid.is_grid_command(params, names):  # the ablation, or train_eval with seeds
            config.tracking.run.name = _IDENTITY["ablation"]
        elif "predict" in names:
            config.tracking.run.name = (f"predict-{params['class']}-{params['recipe']}-{params['config']}-"
                                        f"{run_identity.masking_of(params['config'], params['masking'])}")

    def _check_class_folder(self, pipeline) -> None:
        """A pipeline that ingests needs the class folder: an unknown class, a missing data root or a folder
        of neither layout stops it here, before kedro-mlflow starts an MLflow run (which would be left
        FAILED). Pipelines that do not ingest (predict, --from-nodes after ingestion) do not need it."""
        from metal_pipeline.pipelines.ingestion.nodes import ingest

        if not any(node.func is ingest for node in pipeline.nodes):
            return
        from metal_pipeline.data.ingest import IngestionConfig, detect_layout, resolve_class_dir

        params = self._context.params
        try:
            config = IngestionConfig.from_params(params.get("ingestion"))
            folder = resolve_class_dir(params["class"], config.data_root, config.class_paths)
            detect_layout(folder, config.head_ct.labels_file)
        except MetalError as error:
            print_without_traceback(error)
            raise

    def _report_legacy(self, context, params: dict[str, Any]) -> None:
        layers = context.config_loader["globals"]["layers"]  # conf/base/globals.yml, the one place they are spelled
        old = run_identity.legacy_run_dirs(context.project_path, str(params["class"]), layers)
        key = ",".join(map(str, old))
        if not old or key in self._reported_legacy:
            return
        self._reported_legacy.add(key)
        shown = ", ".join(str(p.relative_to(context.project_path)) for p in old[:6])
        more = f" and {len(old) - 6} more" if len(old) > 6 else ""
        logger.warning(
            "Found outputs in the old layout (<class>/<config>-<masking>, one folder for every seed and "
            "setting): %s%s. They are not reused, because it is unknown which split and parameters produced "
            "them. This run writes to %s/%s/ and its split to %s/%s/. Move or "
            "delete the old folders once you no longer need them.", shown, more, layers["models"], _IDENTITY["name"],
            layers["model_input"], _IDENTITY["split"])
