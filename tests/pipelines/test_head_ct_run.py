"""``train_eval`` on a Head-CT-style folder (images + labels.csv): the image-level path, no masks."""

from __future__ import annotations

import json

import pandas as pd

from kedro_project import TINY_PARAMS, kedro_run, make_project, run_layout
from synthetic import make_labelled_folder


def test_head_ct_protocol_gives_image_auroc_only(tmp_path):
    project = make_project(tmp_path / "project")
    folder = make_labelled_folder(project / "data" / "01_raw", "ct", n_normal=14, n_anomalous=5)
    params = {
        "class": "ct",
        f"ingestion.class_paths.ct": str(folder),
        "ingestion.head_ct.n_train_normal": 10,
        **TINY_PARAMS,
    }
    result = kedro_run(project, "train_eval", params)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    report = run_layout(project, "ct")["reports"]
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["pixel_level"] is False
    decision = {"image_precision_at_threshold", "image_recall_at_threshold", "image_f1_at_threshold",
                "n_flagged_at_threshold"}
    assert set(metrics["overall"]) == {"image_auroc", "n_images", "n_anomalous"} | decision
    assert metrics["overall"]["n_images"] == 4 + 5 and metrics["overall"]["n_anomalous"] == 5
    assert 0.0 <= metrics["overall"]["image_auroc"] <= 1.0
    table = pd.read_csv(report / "metrics.csv")
    assert set(table["defect"]) == {"all", "hemorrhage"}
    for figure in ("reconstruction_panel.png", "roc_curve.png", "per_defect_bars.png"):
        assert (report / figure).stat().st_size > 1000
