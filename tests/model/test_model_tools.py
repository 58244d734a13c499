"""The parameter-count and leak-measurement commands."""

from __future__ import annotations

import torch

from metal_pipeline.model import MeTAL, MeTALConfig
from metal_pipeline.cli import leak, param_count


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


def test_leak_reads_images_as_ingestion_does(tmp_path) -> None:
    """The tool's inputs are ingestion's pixels (data/images.load_image), scaled to [0, 1]."""
    import numpy as np
    import pytest
    from PIL import Image

    from metal_pipeline.data.images import load_image

    folder = tmp_path / "images" / "good"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(folder / "b.bmp")
    (folder / "notes.txt").write_text("not an image")
    x = leak.load_images(str(tmp_path / "images"), 16, 1)
    expected = np.stack([load_image(folder / n, 16, 1) for n in ("a.png", "b.bmp")]) / 255.0
    assert x.dtype == torch.float32 and x.shape == (2, 1, 16, 16)
    np.testing.assert_allclose(x.numpy(), expected, rtol=0, atol=1e-7)
    with pytest.raises(SystemExit, match="No images"):
        leak.load_images(str(tmp_path / "empty"), 16, 1)


def test_tools_are_kedro_project_commands() -> None:
    """Kedro loads ``metal_pipeline.cli.cli`` as project commands: ``kedro param-count`` runs the tool and
    passes ``--help`` on to it."""
    from click.testing import CliRunner

    from metal_pipeline.cli import cli

    result = CliRunner().invoke(cli, ["param-count", "--decoder-layers", "1"])
    assert result.exit_code == 0, result.output
    assert "17.8M" in result.output and "squares_rows_cols" in result.output
    helped = CliRunner().invoke(cli, ["leak", "--help"])
    assert helped.exit_code == 0 and "--checkpoint" in helped.output
