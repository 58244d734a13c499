"""The detector file: a weights_only payload (round trip bit for bit), refusal of pickled files, old files."""

from __future__ import annotations

import logging
import os
import pickle

import numpy as np
import pytest
import torch
from kedro.io import DatasetError

from _predict_helpers import tiny_detector, truncate
from metal_pipeline.datasets import DetectorDataset
from metal_pipeline.errors import MetalError
from metal_pipeline.inference import detector_file
from metal_pipeline.inference.detector import AnomalyDetector
from metal_pipeline.inference.detector_file import (
    ALLOW_PICKLE_ENV,
    FORMAT,
    DetectorFileError,
    convert,
    load_detector,
    save_detector,
)
from metal_pipeline.inference.model_source import load_checkpoint


@pytest.fixture(autouse=True)
def _no_pickle_switch(monkeypatch):
    monkeypatch.delenv(ALLOW_PICKLE_ENV, raising=False)


def _images(n=5, channels=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, channels, 32, 32), dtype=np.uint8)


def _fitted(normalise="pixel"):
    """Every scoring setting away from its default, a fitted normaliser, a threshold and metadata."""
    det = tiny_detector(threshold=0.125, seed=2)
    det = AnomalyDetector(det.net, sigma=1.5, reduction="p99", threshold=0.125, map_kinds=["l2", "msgms"],
                          offsets=[[0, 0], [4, 4]], normalise=normalise, region="foreground", region_erode=1,
                          metadata={"class": "widget", "seed": np.int64(2), "split": {"name": "s", "digests": {}}})
    det.fit_normaliser(_images(6, seed=1))
    return det


def _assert_same_scores(a, b, images):
    sa, sb = a.score(images), b.score(images)
    np.testing.assert_array_equal(sa.scores, sb.scores)  # bit for bit
    np.testing.assert_array_equal(sa.maps, sb.maps)
    np.testing.assert_array_equal(sa.reconstructions, sb.reconstructions)
    np.testing.assert_array_equal(sa.decisions, sb.decisions)


def test_a_detector_with_a_discriminative_head_round_trips_bit_for_bit(tmp_path):
    from metal_pipeline.model.seg_head import SegHead, SegHeadConfig

    base = _fitted()
    torch.manual_seed(4)
    head = SegHead(SegHeadConfig(channels=3, width=4, levels=2))
    with torch.no_grad():  # running statistics away from their initial values, as after training
        for m in head.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    det = AnomalyDetector(base.net, sigma=1.0, reduction="max", threshold=0.5, map_kinds=["l2", "seg"],
                          normalise="pixel", seg_head=head, image_kinds=["msgms"])
    det.fit_normaliser(_images(6, seed=1))
    save_detector(det, tmp_path / "detector.pt")
    payload = torch.load(tmp_path / "detector.pt", weights_only=True)
    assert payload["seg_head"]["config"] == {"channels": 3, "width": 4, "levels": 2}
    loaded = load_detector(tmp_path / "detector.pt")
    assert loaded.map_kinds == ("l2", "seg") and loaded.image_kinds == ("msgms",)
    _assert_same_scores(det, loaded, _images(4, seed=5))


def test_map_kind_seg_needs_a_head():
    with pytest.raises(ValueError, match="needs a trained discriminative head"):
        AnomalyDetector(tiny_detector(seed=2).net, sigma=1.0, map_kinds=["seg"])


class Payload:
    """Unpickling this runs a command; the marker file shows whether it ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("normalise", ["pixel", "global", "none"])
def test_round_trip_scores_equal_bit_for_bit(tmp_path, normalise):
    det = _fitted(normalise)
    path = tmp_path / "detector.pt"
    save_detector(det, path)
    loaded = load_detector(path)
    assert isinstance(loaded, AnomalyDetector) and not loaded.training
    assert loaded.scoring_settings() == det.scoring_settings() and loaded.threshold == det.threshold
    assert loaded.net.config == det.net.config
    assert loaded.metadata == {"class": "widget", "seed": 2, "split": {"name": "s", "digests": {}}}
    assert set(loaded.norm_stats) == set(det.norm_stats)
    for kind, (mean, std) in det.norm_stats.items():
        assert loaded.norm_stats[kind][0].dtype == mean.dtype and loaded.norm_stats[kind][0].shape == mean.shape
        np.testing.assert_array_equal(loaded.norm_stats[kind][0], mean)
        np.testing.assert_array_equal(loaded.norm_stats[kind][1], std)
    _assert_same_scores(det, loaded, _images(4, seed=5))


def test_the_file_is_a_plain_payload_that_loads_with_weights_only(tmp_path):
    save_detector(_fitted(), tmp_path / "detector.pt")
    payload = torch.load(tmp_path / "detector.pt", weights_only=True)
    assert payload["format"] == FORMAT and payload["version"] == detector_file.VERSION
    assert set(payload) == {"format", "version", "model_config", "state_dict", "scoring", "norm_stats", "seg_head",
                            "metadata"}
    assert payload["seg_head"] is None
    assert payload["scoring"] == {"sigma": 1.5, "reduction": "p99", "map_kinds": ["l2", "msgms"], "image_kinds": None,
                                  "offsets": [[0, 0], [4, 4]], "normalise": "pixel", "region": "foreground",
                                  "region_erode": 1, "threshold": 0.125, "amp": "off"}
    assert payload["model_config"]["configuration"] == "squares_rows"
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())
    assert all(isinstance(v, torch.Tensor) for s in payload["norm_stats"].values() for v in s.values())


def test_bf16_scoring_round_trips_and_older_files_score_in_fp32(tmp_path):
    det = _fitted()
    det.amp = "bf16"
    save_detector(det, tmp_path / "bf16.pt")
    loaded = load_detector(tmp_path / "bf16.pt")
    assert loaded.amp == "bf16" and loaded.scoring_settings() == det.scoring_settings()
    _assert_same_scores(det, loaded, _images(3, seed=5))
    payload = torch.load(tmp_path / "bf16.pt", weights_only=True)
    payload["version"] = 2  # a file written before scoring.amp existed
    del payload["scoring"]["amp"]
    torch.save(payload, tmp_path / "v2.pt")
    assert load_detector(tmp_path / "v2.pt").amp == "off"


def test_loading_leaves_the_global_rng_alone(tmp_path):
    save_detector(tiny_detector(), tmp_path / "detector.pt")
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    load_detector(tmp_path / "detector.pt")
    assert torch.equal(torch.rand(3), expected)


def test_every_loader_uses_weights_only(tmp_path, monkeypatch):
    """The local checkpoint, the Kedro dataset and the pyfunc model all read with weights_only=True."""
    from metal_pipeline.inference.pyfunc_model import DETECTOR_ARTIFACT, MetalDetectorModel

    save_detector(tiny_detector(), tmp_path / "detector.pt")
    seen = []
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_checkpoint(tmp_path / "detector.pt")
    DetectorDataset(str(tmp_path / "detector.pt")).load()
    model = MetalDetectorModel()
    model.load_context(type("Context", (), {"artifacts": {DETECTOR_ARTIFACT: str(tmp_path / "detector.pt")}})())
    assert seen == [True, True, True]


def test_a_pickled_object_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"format": FORMAT, "state": Payload(marker)}, tmp_path / "detector.pt")
    with pytest.raises(MetalError) as err:
        load_checkpoint(tmp_path / "detector.pt")
    message = str(err.value)
    assert not marker.exists()  # the pickle's code did not run
    assert "\n" not in message and str(tmp_path / "detector.pt") in message  # one paragraph naming the file
    assert "weights_only=True" in message and "posix.system" in message and "Fix:" in message
    assert "convert" not in message and ALLOW_PICKLE_ENV not in message  # no way to unpickle a foreign object
    # A plain pickle (not a torch file) is refused too, without running it.
    with open(tmp_path / "plain.pt", "wb") as f:
        pickle.dump(Payload(marker), f)
    with pytest.raises(DetectorFileError, match=r"plain\.pt.*not a torch file"):
        load_detector(tmp_path / "plain.pt")
    assert not marker.exists()
    # convert refuses it as well: nothing is unpickled, nothing written.
    with pytest.raises(DetectorFileError, match="was not unpickled"):
        convert(tmp_path / "detector.pt")
    assert not marker.exists() and not (tmp_path / "detector.pt.pickled").exists()


def test_broken_and_foreign_files_get_one_paragraph(tmp_path):
    save_detector(tiny_detector(), tmp_path / "detector.pt")
    with pytest.raises(DetectorFileError, match=r"detector\.pt' .*truncated or corrupt.*Fix:"):
        load_detector(truncate(tmp_path / "detector.pt"))
    torch.save({"format": 1, "model": {}, "epoch": 3}, tmp_path / "best.pt")
    with pytest.raises(DetectorFileError, match=r"best\.pt' is not a MeTAL detector file.*training checkpoint"):
        load_detector(tmp_path / "best.pt")
    torch.save({"format": FORMAT, "version": 99}, tmp_path / "new.pt")
    with pytest.raises(DetectorFileError, match="version 99; this code reads versions 1 to 3"):
        load_detector(tmp_path / "new.pt")
    with pytest.raises(FileNotFoundError):
        load_detector(tmp_path / "missing.pt")


def test_an_old_pickled_detector_is_refused_by_default_with_the_fix(tmp_path):
    det = tiny_detector(threshold=0.5)
    torch.save(det, tmp_path / "detector.pt")  # the format before this one
    with pytest.raises(DetectorFileError) as err:
        load_checkpoint(tmp_path / "detector.pt")
    message = str(err.value)
    assert str(tmp_path / "detector.pt") in message and "metal_pipeline.inference.detector.AnomalyDetector" in message
    assert "older, pickled format" in message
    assert f"python -m metal_pipeline.inference.detector_file convert {tmp_path / 'detector.pt'}" in message
    assert f"{ALLOW_PICKLE_ENV}=1" in message and "Never do either for a file from someone else" in message
    # The Kedro dataset (heatmaps / evaluation after --from-nodes) refuses it the same way.
    with pytest.raises(DatasetError) as wrapped:
        DetectorDataset(str(tmp_path / "detector.pt")).load()
    assert isinstance(wrapped.value.__cause__, DetectorFileError)


def test_an_old_pickled_detector_loads_when_explicitly_allowed(tmp_path, monkeypatch, caplog):
    det = tiny_detector(threshold=0.5)
    torch.save(det, tmp_path / "detector.pt")
    with caplog.at_level(logging.WARNING, logger="metal_pipeline.inference.detector_file"):
        loaded = load_checkpoint(tmp_path / "detector.pt", allow_pickle=True)
    _assert_same_scores(det, loaded, _images(3))
    assert "runs code stored in the file" in caplog.text and "allow_pickle=True was passed" in caplog.text
    caplog.clear()
    monkeypatch.setenv(ALLOW_PICKLE_ENV, "1")
    with caplog.at_level(logging.WARNING, logger="metal_pipeline.inference.detector_file"):
        _assert_same_scores(det, DetectorDataset(str(tmp_path / "detector.pt")).load(), _images(3))
    assert f"{ALLOW_PICKLE_ENV} is set" in caplog.text
    # allow_pickle=False wins over the environment
    with pytest.raises(DetectorFileError, match="older, pickled format"):
        load_checkpoint(tmp_path / "detector.pt", allow_pickle=False)


def test_convert_rewrites_in_place_and_keeps_the_original(tmp_path, capsys):
    det = _fitted()
    path = tmp_path / "detector.pt"
    torch.save(det, path)
    original = path.read_bytes()
    assert detector_file.main(["convert", str(path)]) == 0
    assert "converted" in capsys.readouterr().out
    assert (tmp_path / "detector.pt.pickled").read_bytes() == original  # kept intact
    assert torch.load(path, weights_only=True)["format"] == FORMAT
    _assert_same_scores(det, load_detector(path), _images(3, seed=4))
    # Converting again changes nothing; a second pickled file cannot overwrite the kept original.
    after = path.read_bytes()
    assert convert(path) is None and path.read_bytes() == after
    torch.save(det, path)
    with pytest.raises(DetectorFileError, match="exists already. Nothing was written"):
        convert(path)
    assert (tmp_path / "detector.pt.pickled").read_bytes() == original
    assert detector_file.main(["convert", str(path)]) == 1
