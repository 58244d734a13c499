"""Issue 11, case 7: a read-only output folder or an unreadable input is one paragraph naming the path.

Before: a read-only ``data/`` gave three chained tracebacks about a ``.tmp``
file, and a ``chmod 000`` image was reported as "not an image". The checks run
in a subprocess without ``CAP_DAC_OVERRIDE`` (``_unprivileged``), so they hold
as root too (CI runs as root).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

import _unprivileged

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipelines"))
from kedro_project import kedro_run, make_project  # noqa: E402
from synthetic import make_mvtec_category  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def modes_are_enforced():
    assert _unprivileged.modes_are_enforced(), "the unprivileged wrapper still reads a chmod 000 file"


def _error_of(code: str) -> dict:
    """Run ``code`` unprivileged; it must print one JSON line describing the error it caught."""
    result = _unprivileged.run_python(code, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


CATCH = """
import json, sys
from metal_pipeline.errors import MetalError
try:
{body}
except MetalError as exc:
    print(json.dumps({{"type": type(exc).__name__, "message": str(exc), "errno": getattr(exc, "errno", None)}}))
else:
    print(json.dumps({{"type": None}}))
"""


def catch(body: str) -> dict:
    return _error_of(CATCH.format(body="\n".join("    " + line for line in body.strip().splitlines())))


def test_atomic_write_into_a_read_only_folder_names_the_final_path(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "train.npz"
    target.write_bytes(b"earlier")
    folder.chmod(0o555)
    try:
        error = catch(f"""
from metal_pipeline.utils.atomic import atomic_path
with atomic_path({str(target)!r}) as tmp:
    tmp.write_bytes(b"new")
""")
    finally:
        folder.chmod(0o755)
    assert error["type"] == "OutputWriteError" and error["errno"] == 13
    message = error["message"]
    assert message.startswith(f"Cannot write '{target}': permission denied"), message
    assert ".tmp" not in message and "\n" not in message and "Fix:" in message and str(folder) in message
    assert target.read_bytes() == b"earlier"
    assert sorted(p.name for p in folder.iterdir()) == ["train.npz"]  # no temporary file left behind


def test_atomic_write_needing_a_new_folder_under_a_read_only_one(tmp_path):
    parent = tmp_path / "05_model_input"
    parent.mkdir()
    parent.chmod(0o555)
    target = parent / "widget-32px-s0-abc123" / "train.npz"
    try:
        error = catch(f"""
from metal_pipeline.utils.atomic import atomic_path
with atomic_path({str(target)!r}) as tmp:
    tmp.write_bytes(b"new")
""")
    finally:
        parent.chmod(0o755)
    assert error["type"] == "OutputWriteError"
    assert error["message"].startswith(f"Cannot write '{target}': permission denied")
    assert f"may not create folders in '{parent}'" in error["message"]
    assert not (parent / "widget-32px-s0-abc123").exists()


def test_an_unreadable_image_is_a_permission_problem_not_a_bad_image(tmp_path):
    category = make_mvtec_category(tmp_path, "widget", n_train=2, n_test_good=1, defects={"crack": 1})
    image = category / "train" / "good" / "000.png"
    image.chmod(0)
    for call in ("read_image", "image_mode"):
        error = catch(f"""
from metal_pipeline.data.images import {call}
{call}({str(image)!r})
""")
        assert error["type"] == "DataError", call
        assert error["message"].startswith(f"Cannot read image file '{image}': permission denied"), error
        assert "not an image" not in error["message"] and "corrupt" not in error["message"]


def test_a_folder_that_cannot_be_listed_is_named_not_skipped(tmp_path):
    category = make_mvtec_category(tmp_path, "widget", n_train=2, n_test_good=1, defects={"crack": 1})
    hidden = category / "test" / "crack"
    hidden.chmod(0)
    try:
        calls = {
            "from metal_pipeline.inference.folder_listing import list_image_files\n"
            f"list_image_files({str(category / 'test')!r})": "predict",
            "from metal_pipeline.data.mvtec import scan_mvtec\n"
            f"scan_mvtec({str(category)!r})": "ingestion",
        }
        for body, where in calls.items():
            error = catch(body)
            assert error["type"] == "DataError", where
            assert error["message"].startswith(f"Cannot list folder '{hidden}': permission denied"), error
    finally:
        hidden.chmod(0o755)


def _paragraph(stderr: str) -> str:
    match = re.search(r"^Error: (.+?)(?:\n\s*\n|\Z)", stderr, flags=re.S | re.M)
    assert match, stderr[-3000:]
    return match.group(1)


def _kedro_unprivileged(project: Path, params: dict, monkeypatch, pipeline: str = "ingestion"):
    """``kedro run`` (tests/pipelines/kedro_project.py) without CAP_DAC_OVERRIDE."""
    import kedro_project

    real_run = kedro_project.subprocess.run
    monkeypatch.setattr(kedro_project.subprocess, "run",
                        lambda cmd, **kwargs: real_run(_unprivileged.wrap(list(cmd)), **kwargs))
    try:
        return kedro_run(project, pipeline, params, timeout=300)
    finally:
        monkeypatch.undo()


@pytest.fixture
def project(tmp_path):
    project = make_project(tmp_path / "project")
    make_mvtec_category(project / "data" / "01_raw" / "mvtec_ad", "widget", n_train=6, n_test_good=2,
                        defects={"crack": 2})
    return project


def test_read_only_data_folder_is_one_paragraph_through_kedro_run(project, monkeypatch):
    layer = project / "data" / "05_model_input"
    layer.chmod(0o555)
    try:
        result = _kedro_unprivileged(project, {"class": "widget", "ingestion.img_size": 32}, monkeypatch)
    finally:
        layer.chmod(0o755)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    paragraph = _paragraph(result.stderr)
    assert re.match(rf"Cannot write '{re.escape(str(layer))}/widget-32px-s0-[0-9a-f]+/train\.npz': permission denied",
                    paragraph), paragraph
    assert ".tmp" not in paragraph and "\n" not in paragraph.strip()
    assert list(layer.iterdir()) == []


def test_unreadable_image_through_kedro_run_names_the_file(project, monkeypatch):
    image = project / "data" / "01_raw" / "mvtec_ad" / "widget" / "test" / "crack" / "001.png"
    image.chmod(0)
    result = _kedro_unprivileged(project, {"class": "widget", "ingestion.img_size": 32, "ingestion.channels": 3},
                                 monkeypatch)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    paragraph = _paragraph(result.stderr)
    assert paragraph.startswith(f"Cannot read image file '{image.relative_to(project)}': permission denied"), paragraph
    assert list((project / "data" / "05_model_input").iterdir()) == []


def test_a_dataset_saved_into_a_read_only_folder_through_kedro_run(project, monkeypatch, tmp_path):
    """predictions.csv is a plain Kedro CSVDataset (not an atomic write): the same one paragraph."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
    from _predict_helpers import tiny_detector

    from metal_pipeline.inference.detector_file import save_detector

    save_detector(tiny_detector(threshold=0.0), tmp_path / "detector.pt")
    out = tmp_path / "predictions"
    (out / "heatmaps").mkdir(parents=True)
    (out / "overlays").mkdir()
    out.chmod(0o555)  # the heatmaps and overlays can be written, predictions.csv cannot
    params = {"class": "widget", "predict.checkpoint": str(tmp_path / "detector.pt"),
              "predict.input_dir": str(project / "data" / "01_raw" / "mvtec_ad" / "widget" / "test"),
              "predict.output_dir": str(out)}
    try:
        result = _kedro_unprivileged(project, params, monkeypatch, pipeline="predict")
    finally:
        out.chmod(0o755)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    paragraph = _paragraph(result.stderr)
    assert paragraph.startswith(f"Cannot write '{out / 'predictions.csv'}': permission denied: this user may not "
                                f"write in the folder '{out}'"), paragraph


def test_the_friendly_error_hook_turns_a_failed_save_into_the_paragraph_and_keeps_bug_tracebacks(monkeypatch,
                                                                                                  capsys, tmp_path):
    import errno

    from kedro.io import DatasetError

    from metal_pipeline.hooks import print_without_traceback

    def failed(cause: BaseException, verb: str = "saving") -> DatasetError:
        try:
            try:
                raise cause
            except BaseException as exc:
                raise DatasetError(f"Failed while {verb} data to dataset CSVDataset(filepath=/x/y.csv).") from exc
        except DatasetError as error:
            return error

    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda *args: seen.append(args[1]))
    monkeypatch.delenv("METAL_VERBOSE", raising=False)

    csv = tmp_path / "y.csv"
    denied = failed(PermissionError(errno.EACCES, "Permission denied", str(csv)))
    print_without_traceback(denied)
    sys.excepthook(DatasetError, denied, None)
    assert capsys.readouterr().err.strip() == (f"Error: Cannot write '{csv}': permission denied: this user may "
                                               f"not write in the folder '{tmp_path}'. Nothing was replaced: the "
                                               f"previous file, if any, is unchanged. Fix: make '{tmp_path}' "
                                               f"writable for this user (e.g. chmod u+rwx '{tmp_path}', or chown "
                                               "it), or run as a user who may write there.")
    assert seen == []

    for bug in (failed(RuntimeError("a bug")), failed(PermissionError(errno.EACCES, "denied", "/x/y.csv"), "loading")):
        print_without_traceback(bug)
        sys.excepthook(DatasetError, bug, None)
        assert seen[-1] is bug  # passed on to the default hook: traceback kept
