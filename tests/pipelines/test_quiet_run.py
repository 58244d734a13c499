"""A clean run prints no warning (issue 13): neither ``kedro run --pipelines=train_eval`` nor the
design card's ``kedro run --pipeline=train_eval --params class=...`` (Kedro's deprecated alias), and
the log has no line per dataset load and save.

Known sources this guards against: MLflow's type-hint notice on importing kedro-mlflow
(tracking/quiet_import.py), Kedro's ``--pipeline`` deprecation notice and OmegaConf's
``register_new_resolver`` notices (settings.py, metal_pipeline/__init__.py), catalog logging
(conf/logging.yml). The data is clean: enough validation normals for a threshold of their own.
"""

from __future__ import annotations

import re

import pytest

from kedro_project import TINY_PARAMS, kedro_run, make_project
from synthetic import make_mvtec_category

#: 12 training images, a quarter held out: 3 validation normals, so no warning about too few of them.
PARAMS = {"class": "widget", **TINY_PARAMS, "ingestion.val_fraction": 0.25}

WARNING = re.compile(r"warn", re.IGNORECASE)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("quiet"))
    make_mvtec_category(project / "data" / "01_raw" / "mvtec_ad", "widget", n_train=12, n_test_good=3,
                        defects={"crack": 2}, sizes=[(48, 48)])
    return project


def _warnings(result) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if WARNING.search(line)]


def test_pipelines_option_prints_no_warning_and_no_catalog_lines(project):
    result = kedro_run(project, "train_eval", PARAMS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert _warnings(result) == []
    assert "Completed 8 out of 8 tasks" in result.stdout
    assert "Loading data from" not in result.stdout and "Saving data to" not in result.stdout


def test_design_card_pipeline_option_prints_no_warning(project):
    """The deprecated ``--pipeline`` still selects the pipeline (the finished run is found and reused)."""
    result = kedro_run(project, "train_eval", PARAMS, pipeline_option="--pipeline")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert _warnings(result) == []
    assert "Completed 8 out of 8 tasks" in result.stdout
