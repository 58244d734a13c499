"""``notebooks/inspect_run.ipynb`` runs top to bottom on a tiny finished run (issue 13).

The notebook is copied into the tiny project's ``notebooks/`` and executed there with nbclient, as
Jupyter would (the kernel's folder is the notebook's), pointed at the run by ``METAL_RUN_PARAMS``.
A cell appended for the test reports what the notebook computed.
"""

from __future__ import annotations

import json
import os
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from kedro_project import PROJECT_ROOT, TINY_PARAMS, kedro_run, make_project, params_arg, run_layout
from synthetic import make_mvtec_category

PARAMS = {"class": "widget", **TINY_PARAMS, "ingestion.val_fraction": 0.25}
REPORT = "NOTEBOOK_REPORT "
REPORT_CELL = f"""import json
print({REPORT!r} + json.dumps({{
    "run": identity.name, "metrics_columns": list(metrics.columns), "metrics_rows": list(metrics.index),
    "shown": len(shown),
    "model": card["registered_model_name"], "pyfunc_score": float(result["score"][0]),
    "evaluation_score": float(row["score"]), "decision": result["decision"][0],
    "threshold": threshold, "pyfunc_threshold": float(result["threshold"][0]),
}}))"""


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("notebook"))
    make_mvtec_category(project / "data" / "01_raw" / "mvtec_ad", "widget", n_train=12, n_test_good=2,
                        defects={"crack": 3}, sizes=[(48, 48), (40, 56)])
    result = kedro_run(project, "train_eval", PARAMS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project


def _images(cell) -> int:
    return sum("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


def test_notebook_inspects_the_finished_run(finished_run, monkeypatch):
    project = finished_run
    (project / "notebooks").mkdir()
    path = project / "notebooks" / "inspect_run.ipynb"
    shutil.copy(PROJECT_ROOT / "notebooks" / "inspect_run.ipynb", path)
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(REPORT_CELL))
    # the kernel inherits this environment
    monkeypatch.setenv("METAL_RUN_PARAMS", params_arg(PARAMS))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    monkeypatch.delenv("METAL_PROJECT", raising=False)
    for name in ("KEDRO_DISABLE_TELEMETRY", "MLFLOW_DISABLE_TELEMETRY"):
        monkeypatch.setenv(name, "true")
    client = NotebookClient(notebook, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails

    text = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    report = json.loads(text.split(REPORT, 1)[1])
    layout = run_layout(project)
    assert report["run"] == str(layout["name"])
    assert {"pauroc_0.3", "pixel_auroc", "image_auroc"} <= set(report["metrics_columns"])
    assert report["metrics_rows"] == ["all", "crack"]
    assert report["model"] == "metal-widget-default-squares_rows-strict"
    assert report["pyfunc_score"] == pytest.approx(report["evaluation_score"], rel=1e-6)
    assert report["pyfunc_threshold"] == pytest.approx(report["threshold"])
    assert report["decision"] == ("anomalous" if report["pyfunc_score"] > report["threshold"] else "normal")
    sources = ["".join(cell.source) for cell in notebook.cells]
    overlays = next(c for c, s in zip(notebook.cells, sources) if "overlay_heatmap(" in s)
    roc = next(c for c, s in zip(notebook.cells, sources) if '"roc_curve"' in s)
    assert report["shown"] == 4 and _images(overlays) == 1 and _images(roc) == 1
    assert os.path.getsize(layout["reports"] / "roc_curve.png") > 1000
