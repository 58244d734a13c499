"""Figures render, carry the right content, and row selection is deterministic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from metal_pipeline.metrics import evaluate_localization, partial_auroc, report_to_frame
from metal_pipeline.reporting import per_defect_bars, reconstruction_panel, roc_figure, select_panel_rows

NAMES = ["good/000", "crack/000", "crack/001", "hole/000", "good/001", "cut/000", "hole/001", "good/002"]


def _set(channels=3, size=16, seed=0):
    rng = np.random.default_rng(seed)
    n = len(NAMES)
    images = rng.random((n, channels, size, size)).astype(np.float32)
    recon = np.clip(images + rng.normal(0, 0.05, images.shape), 0, 1).astype(np.float32)
    masks = np.zeros((n, size, size), np.uint8)
    for i, name in enumerate(NAMES):
        if not name.startswith("good"):
            masks[i, 4:9, 5:10] = 1
    maps = (rng.random((n, size, size)) * 0.2 + masks).astype(np.float32)
    return images, recon, maps, masks


def _saved(fig: Figure, path) -> int:
    fig.savefig(path)
    return path.stat().st_size


def test_select_panel_rows_mixes_types_deterministically():
    rows = select_panel_rows(NAMES, max_rows=6)
    # first good, then round-robin over crack, cut, hole; then second images
    assert rows == [0, 1, 5, 3, 2, 6]
    assert select_panel_rows(NAMES, max_rows=6) == rows
    assert select_panel_rows(NAMES, max_rows=2) == [0, 1]
    # anomalous images exhausted -> fill with further good images
    assert select_panel_rows(NAMES, max_rows=20) == [0, 1, 5, 3, 2, 6, 4, 7]
    assert select_panel_rows(["a/0", "a/1"], max_rows=3) == [0, 1]


@pytest.mark.parametrize("channels", [1, 3])
def test_reconstruction_panel_renders(tmp_path, channels):
    images, recon, maps, masks = _set(channels)
    fig = reconstruction_panel(images, recon, maps, masks, NAMES, max_rows=4)
    assert isinstance(fig, Figure)
    assert fig.dpi == 100
    image_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(image_axes) == 4 * 4
    assert [ax.get_title() for ax in image_axes[:4]] == ["input", "ground truth", "reconstruction", "anomaly map"]
    assert image_axes[0].get_ylabel() == "good/000"
    assert _saved(fig, tmp_path / "panel.png") > 1000


def test_reconstruction_panel_without_masks(tmp_path):
    images, recon, maps, _ = _set()
    fig = reconstruction_panel(images, recon, maps, None, NAMES, max_rows=3)
    image_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(image_axes) == 3 * 3
    assert "ground truth" not in [ax.get_title() for ax in image_axes]
    assert _saved(fig, tmp_path / "panel.png") > 1000
    with pytest.raises(ValueError):
        reconstruction_panel(images, recon, maps[:, :8], None, NAMES)


def test_roc_figure_legend_reports_pauroc(tmp_path):
    _, _, maps, masks = _set()
    fig = roc_figure(masks, maps, max_fpr=0.3)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    expected = f"pAUROC@0.3 = {partial_auroc(masks, maps):.3f}"
    assert any(t.startswith(expected) for t in texts), texts
    assert _saved(fig, tmp_path / "roc.png") > 1000


def test_roc_figure_thins_large_curves(tmp_path):
    rng = np.random.default_rng(3)
    labels = rng.random(300_000) < 0.3
    scores = rng.random(300_000) + 0.3 * labels
    fig = roc_figure(labels, scores)
    line = fig.axes[0].get_lines()[0]
    assert len(line.get_xdata()) <= 20_000
    assert _saved(fig, tmp_path / "roc.png") > 1000


def _frame():
    images, recon, maps, masks = _set()
    labels = np.array([not n.startswith("good") for n in NAMES], dtype=int)
    defects = [n.split("/")[0] for n in NAMES]
    scores = maps.reshape(len(NAMES), -1).max(axis=1)
    rep = evaluate_localization(masks, maps, labels, defects, scores)
    return pd.concat(
        [report_to_frame(rep, "bottle", "metal"), report_to_frame(rep, "bottle", "baseline")], ignore_index=True
    )


def test_per_defect_bars(tmp_path):
    frame = _frame()
    fig = per_defect_bars(frame)
    assert len(fig.axes) == 2
    assert [ax.get_ylabel() for ax in fig.axes] == ["pauroc_0.3", "image_auroc"]
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["crack", "cut", "hole", "all"]
    # 4 groups x 2 configurations
    assert len(fig.axes[0].patches) == 8
    assert _saved(fig, tmp_path / "bars.png") > 1000


def test_per_defect_bars_image_only_and_errors():
    frame = _frame()
    image_only = frame[frame["metric"].isin(["image_auroc", "n_images"])]
    fig = per_defect_bars(image_only)
    assert [ax.get_ylabel() for ax in fig.axes] == ["image_auroc"]
    with pytest.raises(ValueError, match="none of"):
        per_defect_bars(frame[frame["metric"] == "n_images"])
    with pytest.raises(ValueError, match="lacks columns"):
        per_defect_bars(frame.drop(columns=["configuration"]))


def test_table_figure_wraps_long_group_labels_without_splitting_words():
    from metal_pipeline.reporting.ablation import ablation_figure

    table = pd.DataFrame({"configuration": ["squares_rows_columns", "l2_ae"], "masking": ["strict", "none"],
                          "n_seeds": [3, 3], "image_auroc": [0.8, 0.7], "image_auroc_std": [0.01, 0.02]})
    fig = ablation_figure(table, ["image_auroc"], group_labels=["squares_rows_columns\n(strict)",
                                                                 "l2-AE (Bergmann et al. 2019)"], title="t")
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["squares_rows_columns\n(strict)", "l2-AE (Bergmann et\nal. 2019)"]
    assert fig.get_figwidth() >= 1.3 * 2 + 1.0


def test_table_figure_draws_error_bars_only_for_groups_with_a_spread():
    from matplotlib.container import ErrorbarContainer

    from metal_pipeline.reporting.ablation import ablation_figure

    # one seed (no std) beside a published value with a std, as in a one-seed Table 5
    table = pd.DataFrame({"configuration": ["squares", "rows_cols", "paper"], "masking": ["paper"] * 3,
                          "n_seeds": [1, 1, 1], "image_auroc": [0.6, 0.62, 0.863],
                          "image_auroc_std": [np.nan, np.nan, 0.040]})
    ax = ablation_figure(table, ["image_auroc"], title="t").axes[0]
    [errorbars] = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    [segments] = [lc.get_segments() for lc in errorbars.lines[2]]
    assert len(segments) == 1 and np.allclose(segments[0][:, 1], [0.823, 0.903])  # only the published group

    table["image_auroc_std"] = np.nan
    ax = ablation_figure(table, ["image_auroc"], title="t").axes[0]
    assert not [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
