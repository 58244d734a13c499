"""``kedro run --pipeline=ablation``: all six configurations of the paper's Table 3 on a tiny class."""

from __future__ import annotations

import pandas as pd

from kedro_project import TINY_PARAMS, kedro_run, make_project
from synthetic import make_mvtec_category

CONFIGURATIONS = ["squares_nomask", "squares", "squares_rows", "squares_cols", "rows_cols", "squares_rows_cols"]


def test_ablation_table_has_one_row_per_configuration(tmp_path):
    project = make_project(tmp_path / "project")
    make_mvtec_category(project / "data" / "01_raw" / "mvtec_ad", "widget", n_train=10, n_test_good=2,
                        defects={"crack": 2})
    params = {"class": "widget", "masking": "strict", **TINY_PARAMS, "training.max_epochs": 2}
    result = kedro_run(project, "ablation", params)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    [out] = (project / "data" / "08_reporting").glob("widget-default-ablation-strict-s0-*")
    table = pd.read_csv(out / "ablation_table.csv")
    assert table["configuration"].tolist() == CONFIGURATIONS  # the paper's row order
    masking = dict(zip(table["configuration"], table["masking"]))
    assert masking["squares_nomask"] == "none" and {masking[c] for c in CONFIGURATIONS[1:]} == {"strict"}
    for column in ("pauroc_0.3", "pixel_auroc", "image_auroc", "au_pro_0.3"):
        assert table[column].between(0, 1).all()
    assert "| squares_rows_cols |" in (out / "ablation_table.md").read_text()
    for config in CONFIGURATIONS:
        assert (out / config / "metrics.csv").exists()
    # each configuration is its own run, with its own keyed checkpoint folder
    runs = sorted(p.parent.parent.name for p in (project / "data" / "06_models").glob("widget-*/checkpoints/best.pt"))
    assert len(runs) == 6 and all(r.startswith("widget-default-") for r in runs)
    assert sum("-squares_nomask-none-s0-" in r for r in runs) == 1
