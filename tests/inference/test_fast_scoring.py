"""The faster scoring path (issue 10) against the implementation it replaced.

* ``AnomalyDetector.raw_maps`` keeps maps on torch and smooths with
  ``smooth_maps_torch``; MSGMS computes Prewitt gradients from slices instead
  of a one-channel ``conv2d``. Reference here: the earlier pipeline (``conv2d``
  Prewitt, scipy ``gaussian_filter`` on numpy). Stated tolerance: raw maps
  within 2e-6 absolute + 1e-5 relative; image scores within 1e-5 of the
  largest map value (normalised maps divide the raw difference by a per-pixel
  std). Bit-identity is kept where it mattered before: a score does not depend
  on the batch size.
* ``score_folder`` with a thread pool (default) gives the same table and
  byte-identical files as without one (``io_workers=0``); overlays can be off;
  writing each batch while the next is scored (``write=True``, ``score_folder``'s way)
  gives the files of saving the returned outputs afterwards (the predict pipeline's way).
* CUDA: the same maps on the GPU within a stated tolerance (skipped without CUDA).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
import torch.nn.functional as F

from _predict_helpers import tiny_detector
from metal_pipeline.data.errors import DataError
from metal_pipeline.inference.detector import AnomalyDetector
from metal_pipeline.inference.prediction_outputs import OVERLAYS_DIR
from metal_pipeline.inference.predict_folder import predict_images, score_folder, write_predictions
from metal_pipeline.pipelines.predict.nodes import PredictConfig
from metal_pipeline.scoring import image_scores
from metal_pipeline.scoring.maps import GMS_C, l2_map, ssim_dissimilarity_map
from batch_tolerance import assert_close_across_batch_sizes
from synthetic import save_image, synthetic_picture

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
MAP_ATOL, MAP_RTOL, SCORE_TOL = 2e-6, 1e-5, 1e-5

# ---------------------------------------------------------------- the replaced implementation
_PREWITT = torch.tensor([[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]]) / 3.0


def _old_gradient_magnitude(gray):
    k = _PREWITT.to(gray.device, gray.dtype)
    g = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), torch.stack((k, k.T)).unsqueeze(1))
    return torch.sqrt(g[:, :1].square() + g[:, 1:].square() + 1e-12)


def _old_msgms(x, r, scales=4):
    h, w = x.shape[-2:]
    total = torch.zeros(x.shape[0], 1, h, w, dtype=x.dtype)
    a, b = x, r
    for s in range(scales):
        if s:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        ga, gb = _old_gradient_magnitude(a.mean(1, keepdim=True)), _old_gradient_magnitude(b.mean(1, keepdim=True))
        g = (2 * ga * gb + GMS_C) / (ga.square() + gb.square() + GMS_C)
        total += g if s == 0 else F.interpolate(g, size=(h, w), mode="bilinear", align_corners=False)
    return 1.0 - total[:, 0] / scales


_OLD = {"l2": l2_map, "msgms": _old_msgms, "ssim": ssim_dissimilarity_map}


def _reference_raw_maps(detector: AnomalyDetector, images: np.ndarray) -> dict[str, np.ndarray]:
    """The earlier raw_maps: maps summed over offsets on torch, averaged, to numpy, scipy smoothing."""
    net = detector.net.eval()
    x = torch.from_numpy(images).float() / 255.0
    acc = {k: torch.zeros(len(x), *x.shape[2:]) for k in detector.map_kinds}
    with torch.no_grad():
        for dy, dx in detector.offsets:
            r = net(torch.roll(x, (dy, dx), dims=(2, 3)) if (dy or dx) else x)
            r = torch.roll(r, (-dy, -dx), dims=(2, 3)) if (dy or dx) else r
            for k in detector.map_kinds:
                acc[k] += _OLD[k](x, r)
    return {k: np.stack([gaussian_filter(x, detector.sigma) for x in (m / len(detector.offsets)).numpy()])
            for k, m in acc.items()}


def _images(n: int = 6, size: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 200, (1, 3, size, size))
    return np.clip(base + rng.integers(-40, 40, (n, 3, size, size)), 0, 255).astype(np.uint8)


def _detector(**scoring) -> AnomalyDetector:
    net = tiny_detector().net
    return AnomalyDetector(net, **{"sigma": 2.0, "reduction": "max", **scoring})


# ---------------------------------------------------------------- maps and scores
@pytest.mark.parametrize("kinds, offsets, sigma", [
    (("l2",), ((0, 0),), 4.0),                       # paper recipe
    (("l2", "msgms"), ((0, 0),), 2.0),               # default recipe
    (("ssim", "msgms"), ((0, 0), (4, 4)), 1.0),      # test-time offsets
    (("l2",), ((0, 0),), 0.0),                       # no smoothing
])
def test_raw_maps_equal_the_replaced_pipeline(kinds, offsets, sigma):
    detector = _detector(map_kinds=kinds, offsets=offsets, sigma=sigma)
    images = _images()
    got, _ = detector.raw_maps(images, batch_size=4)
    expected = _reference_raw_maps(detector, images)
    assert list(got) == list(kinds)
    for k in kinds:
        assert got[k].dtype == np.float32
        np.testing.assert_allclose(got[k], expected[k], rtol=MAP_RTOL, atol=MAP_ATOL, err_msg=k)


def test_normalised_scores_equal_the_replaced_pipeline_within_the_stated_tolerance():
    detector = _detector(map_kinds=("l2", "msgms"), normalise="pixel")
    normals, test = _images(8, seed=1), _images(6, seed=2)
    detector.fit_normaliser(normals)
    result = detector.score(test, batch_size=4)
    reference = detector.combine(_reference_raw_maps(detector, test))  # same fitted statistics
    scale = float(np.abs(reference).max())
    np.testing.assert_allclose(result.maps, reference, rtol=0, atol=SCORE_TOL * scale)
    np.testing.assert_allclose(result.scores, image_scores(reference, "max"), rtol=0, atol=SCORE_TOL * scale)


def test_scores_do_not_depend_on_the_batch_size_bit_for_bit():
    detector = _detector(map_kinds=("l2", "msgms", "ssim"), offsets=((0, 0), (3, 5)), normalise="pixel")
    images = _images(7, seed=3)
    detector.fit_normaliser(images)
    one, many = detector.score(images, batch_size=1), detector.score(images, batch_size=5)
    assert_close_across_batch_sizes(one.maps, many.maps)
    assert_close_across_batch_sizes(one.scores, many.scores)


def test_maps_stay_fp32_when_the_caller_runs_the_network_under_autocast():
    detector = _detector(map_kinds=("l2", "msgms"))
    images = _images(3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        maps, recon = detector.raw_maps(images)
    plain, _ = detector.raw_maps(images)
    assert all(m.dtype == np.float32 and np.isfinite(m).all() for m in maps.values())
    for k in maps:  # only the network ran in bf16: close to fp32, not equal
        np.testing.assert_allclose(maps[k], plain[k], atol=0.05 * float(np.abs(plain[k]).max()))


@needs_cuda
def test_cuda_maps_equal_cpu_maps():
    detector = _detector(map_kinds=("l2", "msgms", "ssim"), offsets=((0, 0), (4, 4)))
    images = _images(5)
    cpu, _ = detector.raw_maps(images, device="cpu")
    gpu, _ = detector.raw_maps(images, device="cuda")
    detector.to("cpu")
    for k in cpu:  # the network's GPU kernels reorder sums (and may use TF32 convolutions)
        np.testing.assert_allclose(gpu[k], cpu[k], rtol=1e-3, atol=1e-4, err_msg=k)


# ---------------------------------------------------------------- predict: pool and overlays
@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "in"
    for i, (rel, mode, size) in enumerate([("a/x.png", "RGB", (48, 48)), ("a/y.jpg", "RGB", (56, 40)),
                                           ("b/z.bmp", "L", (33, 61)), ("c.png", "RGB", (32, 32)),
                                           ("d.png", "RGB", (40, 40))]):
        save_image(synthetic_picture(*size, mode=mode, seed=i, defect=i % 2 == 1), root / rel)
    (root / "broken.png").write_bytes(b"not a png")
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_thread_pool_gives_the_same_table_and_bytes_as_the_calling_thread(folder, tmp_path):
    detector = tiny_detector(threshold=0.05)
    serial = score_folder(detector, folder, tmp_path / "serial", batch_size=2, io_workers=0)
    pooled = score_folder(detector, folder, tmp_path / "pooled", batch_size=2, io_workers=3)
    for table, name in ((serial, "serial"), (pooled, "pooled")):
        for column in ("heatmap", "overlay"):
            table[column] = table[column].str.replace(str(tmp_path / name), "", regex=False)
    assert serial.equals(pooled)
    assert (serial["error"] != "").sum() == 1
    assert _files(tmp_path / "serial") == _files(tmp_path / "pooled")


@pytest.mark.parametrize("io_workers", [0, 2])
def test_writing_batch_by_batch_gives_the_files_of_saving_the_returned_outputs(folder, tmp_path, io_workers):
    detector = tiny_detector(threshold=0.05)
    lazy = predict_images(detector, folder, tmp_path / "lazy", batch_size=2, io_workers=io_workers)
    assert lazy.heatmaps and lazy.overlays and not list(tmp_path.glob("lazy/**/*.*"))
    write_predictions(lazy, tmp_path / "lazy")
    streamed = predict_images(detector, folder, tmp_path / "streamed", batch_size=2, io_workers=io_workers,
                              write=True)
    assert not streamed.heatmaps and not streamed.overlays  # already written
    files = _files(tmp_path / "lazy")
    assert len([k for k in files if k.startswith("heatmaps/")]) == 5
    assert len([k for k in files if k.startswith("overlays/")]) == 5
    assert _files(tmp_path / "streamed") == files
    for table, name in ((lazy.table, "lazy"), (streamed.table, "streamed")):
        for column in ("heatmap", "overlay"):
            table[column] = table[column].str.replace(str(tmp_path / name), "", regex=False)
    assert lazy.table.equals(streamed.table)


def test_overlays_off_writes_the_same_heatmaps_and_removes_old_overlays(folder, tmp_path):
    detector = tiny_detector(threshold=0.05)
    on = score_folder(detector, folder, tmp_path / "out", batch_size=2)
    heatmaps_on = {k: v for k, v in _files(tmp_path / "out").items() if k.startswith("heatmaps/")}
    assert len(list((tmp_path / "out" / OVERLAYS_DIR).rglob("*.png"))) == 5
    off = score_folder(detector, folder, tmp_path / "out", batch_size=2, overlays=False)
    assert not list((tmp_path / "out" / OVERLAYS_DIR).rglob("*.png"))  # no overlay of an earlier run is left
    assert {k: v for k, v in _files(tmp_path / "out").items() if k.startswith("heatmaps/")} == heatmaps_on
    assert (off["overlay"] == "").all()
    assert off.drop(columns="overlay").equals(on.drop(columns="overlay"))


def test_a_failed_write_is_raised_and_the_pool_stops(folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "heatmaps").write_text("a file where the heatmaps folder should be")
    with pytest.raises(Exception, match="heatmaps"):
        score_folder(tiny_detector(), folder, out, batch_size=2)


def test_predict_parameters_overlays_and_io_workers():
    base = {"input_dir": "in", "output_dir": "out"}
    assert PredictConfig.from_params(base).overlays is True
    assert PredictConfig.from_params({**base, "overlays": "false"}).overlays is False
    assert PredictConfig.from_params({**base, "io_workers": 0}).io_workers == 0
    with pytest.raises(DataError, match="overlays"):
        PredictConfig.from_params({**base, "overlays": "sometimes"})
    with pytest.raises(DataError, match="io_workers"):
        score_folder(tiny_detector(), ".", "out", io_workers=-1)
