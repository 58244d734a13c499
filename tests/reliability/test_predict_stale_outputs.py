"""Issue 11, case 9: a predict rerun after an input became corrupt leaves no stale heatmap or overlay.

Before: the old heatmap and overlay stayed next to the new error row. Now they
are removed, the row's error says so, and the log counts them. When every file
fails the run stops and the earlier outputs stay as they were (nothing new is
written, not even the CSV).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
from _predict_helpers import tiny_detector, truncate  # noqa: E402
from metal_pipeline.data.errors import DataError  # noqa: E402
from metal_pipeline.inference.predict_folder import score_folder  # noqa: E402
from synthetic import make_mvtec_category  # noqa: E402


@pytest.fixture
def scored_once(tmp_path):
    category = make_mvtec_category(tmp_path / "raw", "widget", n_train=1, n_test_good=2, defects={"crack": 2})
    images, out = category / "test", tmp_path / "predictions"
    detector = tiny_detector(threshold=0.0)
    first = score_folder(detector, images, out, batch_size=2)
    assert (first["error"] == "").all()
    return detector, images, out


def _outputs(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def test_rerun_after_an_input_became_corrupt_removes_its_old_outputs(scored_once, caplog):
    detector, images, out = scored_once
    assert "heatmaps/crack/001.tiff" in _outputs(out) and "overlays/crack/001.png" in _outputs(out)
    truncate(images / "crack" / "001.png")

    with caplog.at_level(logging.WARNING, logger="metal_pipeline.inference.predict_folder"):
        table = score_folder(detector, images, out, batch_size=2)

    row = table.set_index("path").loc["crack/001.png"]
    assert "truncated" in row["error"] and row["heatmap"] == "" and row["overlay"] == ""
    assert "earlier run for this file were removed" in row["error"]
    assert str(out / "heatmaps" / "crack" / "001.tiff") in row["error"]
    assert _outputs(out) == ["heatmaps/crack/000.tiff", "heatmaps/good/000.tiff", "heatmaps/good/001.tiff",
                             "overlays/crack/000.png", "overlays/good/000.png", "overlays/good/001.png"]
    assert (table[table["path"] != "crack/001.png"]["error"] == "").all()
    assert "Removed the heatmaps and overlays of an earlier run for 1 file(s)" in caplog.text


def test_a_file_failing_on_its_first_run_has_nothing_to_remove(scored_once):
    detector, images, out = scored_once
    (images / "good" / "new.png").write_bytes(b"not a png")
    table = score_folder(detector, images, out, batch_size=2)
    row = table.set_index("path").loc["good/new.png"]
    assert row["error"] and "removed" not in row["error"]


def test_when_every_file_fails_the_earlier_outputs_stay(scored_once):
    detector, images, out = scored_once
    before = {p: (out / p).read_bytes() for p in _outputs(out)}
    for image in images.rglob("*.png"):
        truncate(image)
    with pytest.raises(DataError, match="None of the 4 image file"):
        score_folder(detector, images, out, batch_size=2)
    assert {p: (out / p).read_bytes() for p in _outputs(out)} == before
