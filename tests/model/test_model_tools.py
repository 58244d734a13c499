"""The parameter-count and leak-measurement commands."""

from __future__ import annotations

import torch

from metal_pipeline.model import MeTAL, MeTALConfig
from metal_pipeline.model import leak, param_count


def _block(d: int, ratio: int = 4) -> int:
    ln = 2 * d
    return ln + (d * 3 * d + 3 * d) + (d * d + d) + ln + (d * ratio * d + ratio * d) + (ratio * d * d + d)


def test_param_count_matches_formula() -> None:
    d, n, k, c, p = 128, 128, 16, 3, 8
    rows = {(r["group"], r["configuration"]): r for r in param_count.table()}
    for group, depth in (("products", 1), ("textures", 2)):
        squares = (c * k * k * d + d) + p * p * d + depth * _block(d) + 2 * d
        stripe = (c * k * n * d + d) + p * d + depth * _block(d) + 2 * d
        dec_in = d + d // p
        decoder = (dec_in * 512 + 512) + (512 * c * k * k + c * k * k)
        r = rows[(group, "squares_rows")]
        assert r["squares"] == squares and r["rows"] == stripe and r["decoder"] == decoder
        assert r["total"] == squares + stripe + decoder
    assert len(rows) == 12


def test_param_count_cli(capsys) -> None:
    assert param_count.main([]) == 0
    out = capsys.readouterr().out
    assert "squares_rows_cols" in out and "17.8M" in out and "26.3M" in out


def test_leak_estimator_strict_zero_paper_positive() -> None:
    torch.manual_seed(0)
    x = torch.rand(1, 1, 32, 32)
    for masking, check in (("strict", lambda v: v == 0.0), ("paper", lambda v: v > 0)):
        cfg = MeTALConfig(img_size=32, patch_size=8, channels=1, embed_dim=16, num_heads=2,
                          decoder_hidden=16, configuration="squares_rows", masking=masking)
        norms = leak.block_norms(MeTAL(cfg).eval(), x, probes=1)
        assert norms.shape == (1, 16, 16)
        diag, neigh, ratio = leak.relative_leak(norms, cfg.grid)
        assert check(diag) and neigh > 0


def test_neighbour_mask() -> None:
    m = leak.neighbour_mask(3)
    assert m.sum(1).tolist() == [2, 3, 2, 3, 4, 3, 2, 3, 2]
    assert m[4].nonzero().flatten().tolist() == [1, 3, 5, 7]


def test_leak_cli_measures_a_saved_detector(tmp_path, capsys) -> None:
    """``leak --checkpoint``: paper masking leaks, strict does not, on a saved (wrapped) model."""
    import numpy as np
    from PIL import Image

    from metal_pipeline.inference.detector import AnomalyDetector
    from metal_pipeline.inference.detector_file import save_detector

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(images / f"{i}.png")
    ratios = {}
    for masking in ("paper", "strict"):
        torch.manual_seed(0)
        net = MeTAL(MeTALConfig(img_size=32, patch_size=8, channels=3, embed_dim=16, num_heads=2,
                                decoder_hidden=16, configuration="squares_rows", masking=masking))
        path = tmp_path / f"{masking}.pt"
        save_detector(AnomalyDetector(net, sigma=1.0), path)
        assert leak.main(["--checkpoint", str(path), "--images", str(images), "--probes", "2", "--threads", "1"]) == 0
        line = capsys.readouterr().out
        ratios[masking] = float(line.rsplit("relative leak=", 1)[1].split()[0])
    assert ratios["paper"] > 0.1
    assert ratios["strict"] == 0.0
