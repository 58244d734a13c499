"""The registered pyfunc model (``inference/pyfunc_model.py``): image bytes in; score, decision and map out.

* In process: ``score_images`` against ``AnomalyDetector.score`` on files read as ingestion reads them.
* Portable: a Python where ``import metal_pipeline`` fails loads the registered model from a SQLite
  registry and gives the same scores and maps (the model's ``code_paths`` copy of the package is used),
  importing nothing that its pinned requirements do not install.
* Served: ``mlflow models serve --env-manager local`` answers ``/invocations`` with the same scores.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from _predict_helpers import tiny_detector
from metal_pipeline.data.images import load_image
from metal_pipeline.inference.pyfunc_model import (
    INPUT_COLUMN,
    OUTPUT_COLUMNS,
    REQUIRED_DISTRIBUTIONS,
    input_example,
    score_images,
)
from metal_pipeline.tracking.registry import CHAMPION, log_and_register, registered_model_name

NAME = registered_model_name("widget", "default", "squares_rows", "strict")
SRC = Path(__file__).resolve().parents[2] / "src"


def write_images(folder: Path) -> list[Path]:
    """Files of several sizes and modes: RGB, gray, RGBA, 16-bit gray, JPEG."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    pictures = {
        "rgb.png": Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)),
        "gray.png": Image.fromarray(rng.integers(0, 256, (50, 30), dtype=np.uint8)),
        "rgba.png": Image.fromarray(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)),
        "gray16.png": Image.fromarray(rng.integers(0, 65536, (33, 35), dtype=np.uint16)),
        "photo.jpg": Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)),
    }
    paths = []
    for name, picture in pictures.items():
        picture.save(folder / name)
        paths.append(folder / name)
    return paths


def reference(detector, paths):
    """Scores and maps of ``AnomalyDetector.score`` on the files as ingestion reads them."""
    return detector.score(np.stack([load_image(p, detector.img_size, detector.channels) for p in paths]))


def frame_of(paths) -> pd.DataFrame:
    return pd.DataFrame({INPUT_COLUMN: [Path(p).read_bytes() for p in paths]})


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def detector(images):
    """A tiny RGB detector whose threshold splits the test images (median score)."""
    det = tiny_detector(threshold=None, seed=3)
    det.threshold = float(np.median(reference(det, images).scores))
    return det


@pytest.fixture(scope="module")
def registry(tmp_path_factory, detector):
    """A SQLite tracking + registry DB (in a temporary folder) holding NAME version 1 with alias champion."""
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.create_experiment("pyfunc", artifact_location=(root / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment):
            card = log_and_register(detector, NAME, {"threshold": detector.threshold})
        assert card["version"] == 1 and card["aliases"] == [CHAMPION]
        assert {k: str(v) for k, v in MlflowClient().get_registered_model(NAME).aliases.items()} == {CHAMPION: "1"}
    finally:
        if mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)
    return uri


# -- in process ------------------------------------------------------------
def test_scores_decisions_and_maps_match_the_detector(detector, images):
    expected = reference(detector, images)
    out = score_images(detector, frame_of(images))
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    np.testing.assert_array_equal(out["score"].to_numpy(np.float64), expected.scores)
    assert list(out["decision"]) == ["anomalous" if d else "normal" for d in expected.decisions]
    assert set(out["decision"]) == {"anomalous", "normal"}
    assert (out["threshold"] == detector.threshold).all() and (out["error"] == "").all()
    for got, want in zip(out["anomaly_map"], expected.maps):
        assert got.dtype == np.float32 and got.shape == (32, 32)
        np.testing.assert_array_equal(got, want)


def test_map_size_threshold_and_bad_rows(detector, images):
    frame = pd.concat([frame_of(images[:2]), pd.DataFrame({INPUT_COLUMN: [b"not an image"]})], ignore_index=True)
    out = score_images(detector, frame, {"map_size": "input", "threshold": -1.0})
    assert [m.shape for m in out["anomaly_map"][:2]] == [(40, 48), (50, 30)]  # each input's height x width
    assert list(out["decision"]) == ["anomalous", "anomalous", ""] and (out["threshold"] == -1.0).all()
    assert np.isnan(out.loc[2, "score"]) and out.loc[2, "anomaly_map"] is None
    assert "not an image Pillow can identify" in out.loc[2, "error"]
    small = score_images(detector, frame_of(images[:1]), {"map_size": "none"})
    assert small.loc[0, "anomaly_map"] is None and np.isfinite(small.loc[0, "score"])
    with pytest.raises(ValueError, match="map_size"):
        score_images(detector, frame_of(images[:1]), {"map_size": "big"})


def test_colour_image_for_a_gray_model_is_not_scored_unless_asked(images):
    gray = tiny_detector(channels=1, threshold=0.5)
    out = score_images(gray, frame_of([images[0], images[1]]))
    assert "colour image" in out.loc[0, "error"] and np.isnan(out.loc[0, "score"])
    assert out.loc[1, "error"] == "" and out.loc[1, "decision"] in ("normal", "anomalous")
    converted = score_images(gray, frame_of([images[0]]), {"gray_from_color": True})
    assert converted.loc[0, "error"] == ""
    np.testing.assert_array_equal(converted["score"], reference(gray, [images[0]]).scores)


def test_input_example_scores():
    assert list(input_example().columns) == [INPUT_COLUMN]
    out = score_images(tiny_detector(), input_example())
    assert out.loc[0, "error"] == "" and out.loc[0, "decision"] == ""  # no threshold: no decision


# -- without metal_pipeline ------------------------------------------------
LOAD_WITHOUT_PACKAGE = r'''
import importlib.metadata, json, os, site, sys
site_packages, uri, name, paths, result = sys.argv[1:6]
sys.path.append(site_packages)
for pth in sorted(os.listdir(site_packages)):  # every .pth file but the editable install's
    if pth.endswith(".pth") and not pth.startswith("__editable__"):
        site.addpackage(site_packages, pth, set())
try:
    import metal_pipeline
except ModuleNotFoundError:
    pass
else:
    sys.exit(f"metal_pipeline is importable from {metal_pipeline.__file__}")

import mlflow, pandas as pd
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

mlflow.set_tracking_uri(uri)
local = mlflow.artifacts.download_artifacts(f"models:/{name}@champion")
before = set(sys.modules)
model = mlflow.pyfunc.load_model(local)
out = model.predict(pd.DataFrame({"image": [open(p, "rb").read() for p in json.loads(paths)]}))

# Every distribution the model imported is installed by its requirements.txt (or their dependencies).
wanted = [Requirement(line.strip()).name for line in open(os.path.join(local, "requirements.txt")) if line.strip()]
closure, todo = set(), list(wanted)
while todo:
    dist = canonicalize_name(todo.pop())
    if dist in closure:
        continue
    closure.add(dist)
    for text in importlib.metadata.requires(dist) or []:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            todo.append(req.name)
owners = importlib.metadata.packages_distributions()
imported = {m.split(".")[0] for m in set(sys.modules) - before}
missing = sorted({canonicalize_name(d) for m in imported for d in owners.get(m, [])} - closure
                 - {"metal-pipeline"})
json.dump({"scores": out["score"].tolist(), "decisions": out["decision"].tolist(),
           "errors": out["error"].tolist(), "maps": [m.tolist() for m in out["anomaly_map"]],
           "package": sys.modules["metal_pipeline"].__file__, "local": local, "missing": missing},
          open(result, "w"))
'''


def test_registered_model_scores_where_metal_pipeline_is_not_installed(registry, detector, images, tmp_path):
    script = tmp_path / "load.py"
    script.write_text(LOAD_WITHOUT_PACKAGE)
    result = tmp_path / "result.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MLFLOW_"))}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    # -I: no PYTHONPATH, no user site, no script folder; -S: no site-packages (so no editable-install .pth)
    cmd = [sys.executable, "-I", "-S", str(script), sysconfig.get_paths()["purelib"], registry, NAME,
           json.dumps([str(p) for p in images]), str(result)]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    got = json.loads(result.read_text())

    assert not Path(got["package"]).resolve().is_relative_to(SRC)  # the model's own copy of the package
    assert Path(got["package"]).resolve().is_relative_to(Path(got["local"]).resolve())
    assert got["missing"] == [], f"imported but not in the model's requirements: {got['missing']}"
    expected = reference(detector, images)
    assert got["errors"] == [""] * len(images)
    np.testing.assert_array_equal(np.array(got["scores"], dtype=np.float64), expected.scores)
    assert got["decisions"] == ["anomalous" if d else "normal" for d in expected.decisions]
    np.testing.assert_array_equal(np.array(got["maps"], dtype=np.float32), expected.maps)


def test_requirements_are_pinned(registry):
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(registry)
    try:
        text = Path(mlflow.artifacts.download_artifacts(f"models:/{NAME}/1/requirements.txt")).read_text()
    finally:
        mlflow.set_tracking_uri(previous)
    pins = dict(line.split("==") for line in text.split())
    assert sorted(pins) == sorted(REQUIRED_DISTRIBUTIONS) and all(pins.values())
    assert pins["mlflow"] == "3.17.2" and pins["torch"] == "2.13.0"


# -- served over HTTP ------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlflow_models_serve_scores_an_image_over_http(registry, detector, images, tmp_path):
    port = free_port()
    env = dict(os.environ, MLFLOW_TRACKING_URI=registry, MLFLOW_DISABLE_TELEMETRY="true")
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", f"models:/{NAME}@{CHAMPION}",
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, up = time.monotonic() + 60, False
        while time.monotonic() < deadline and not up and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as answer:
                    up = answer.status == 200
            except OSError:
                time.sleep(0.5)
        if not up:
            pytest.skip(f"mlflow models serve did not answer on 127.0.0.1:{port} within 60 s "
                        f"(exit code {server.poll()}); log: {(tmp_path / 'serve.log').read_text()[-500:]}")
        body = {"dataframe_split": {"columns": [INPUT_COLUMN],
                                    "data": [[base64.b64encode(images[0].read_bytes()).decode("ascii")]]},
                "params": {"map_size": "input"}}
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            predictions = json.loads(answer.read())["predictions"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()
    expected = reference(detector, images[:1])
    assert len(predictions) == 1 and predictions[0]["error"] == ""
    assert predictions[0]["score"] == expected.scores[0]
    assert predictions[0]["decision"] == ("anomalous" if expected.decisions[0] else "normal")
    assert np.array(predictions[0]["anomaly_map"]).shape == (40, 48)
