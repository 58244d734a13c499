"""The project as ``kedro run --params ...`` sees it, for the scripts in this folder (not a script).

A run's folders are named from its parameters (``metal_pipeline.run_identity``), so a script finds a
run from the ``--params`` it was run with, exactly as the notebook does: the project hook checks the
parameters and publishes the run's identity, and the catalog then points at that run's files. Every
setting (model, scoring, evaluation) comes from ``conf/`` and the recipe, never from the script.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def add_project_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="",
                        help="the run's parameters, as given to kedro run (e.g. class=bottle,masking=strict); "
                             "default: the project's defaults")
    parser.add_argument("--project", type=Path, default=PROJECT_ROOT,
                        help="the Kedro project folder (default: the folder above scripts/)")


def parse_params(text: str) -> dict[str, Any]:
    """``key=value,a.b=value`` as ``kedro run --params`` reads it (comma-separated, dotted keys nest,
    values typed by OmegaConf)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    bad = [item for item in items if "=" not in item or not item.partition("=")[0].strip()]
    if bad:
        raise SystemExit(f"--params: {', '.join(bad)} must be key=value (e.g. --params class=bottle,seed=1)")
    return OmegaConf.to_container(OmegaConf.from_dotlist(items))


def project_context(args: argparse.Namespace):
    """The ``KedroContext`` of ``args.project`` with ``args.params``, as ``kedro run`` builds it.

    Changes the working directory to the project: the catalog's paths (``data/...``) and the default
    MLflow store are relative to it.
    """
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    project = args.project.resolve()
    os.chdir(project)
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=parse_params(args.params)) as session:
        return session.load_context()


def run_folders() -> str:
    """``<run name>/<scoring>``: the run and scoring the catalog points at (after :func:`project_context`)."""
    from metal_pipeline.hooks import resolve_run

    return f"{resolve_run('name')}/{resolve_run('scoring')}"
