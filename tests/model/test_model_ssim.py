"""SSIM against scikit-image, its gradient, and the reconstruction loss."""

from __future__ import annotations

import glob

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from metal_pipeline.model import ReconstructionLoss, ssim
from metal_pipeline.model.ssim import gaussian_band_matrix

BOTTLE = "/work/shared/data/mvtec_ad/bottle/test/*/*.png"
SIZE = 128


def sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Reference: ``a``, ``b`` as (H, W) or (H, W, C) float64 in [0, 1]."""
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=1, channel_axis=2 if a.ndim == 3 else None)


def to_torch(a: np.ndarray) -> torch.Tensor:
    a = a[..., None] if a.ndim == 2 else a
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float()


def degraded(a: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    spatial = (1.2, 1.2) + (0,) * (a.ndim - 2)
    return [np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1),
            gaussian_filter(a, spatial),
            np.clip(0.8 * a + 0.1, 0, 1)]


def real_images() -> list[np.ndarray]:
    from PIL import Image

    files = sorted(glob.glob(BOTTLE))
    if not files:
        pytest.skip(f"no MVTec bottle images under {BOTTLE}")
    picked = files[:: max(1, len(files) // 4)][:4]
    return [np.asarray(Image.open(f).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR),
                       dtype=np.float64) / 255.0 for f in picked]


def check_against_skimage(images: list[np.ndarray]) -> None:
    rng = np.random.default_rng(0)
    xs, ys, refs = [], [], []
    for a in images:
        for b in degraded(a, rng):
            xs.append(to_torch(a))
            ys.append(to_torch(b))
            refs.append(sk_ssim(a, b))
    got = ssim(torch.stack(xs), torch.stack(ys), data_range=1.0, sigma=1.5)
    assert got.shape == (len(refs),)
    np.testing.assert_allclose(got.numpy(), np.array(refs), atol=1e-3, rtol=0)
    # much tighter in practice; keep a sharper tripwire too
    np.testing.assert_allclose(got.numpy(), np.array(refs), atol=2e-5, rtol=0)


def test_ssim_matches_skimage_rgb_real() -> None:
    check_against_skimage(real_images())


def test_ssim_matches_skimage_gray_real() -> None:
    check_against_skimage([a @ np.array([0.299, 0.587, 0.114]) for a in real_images()])


def test_ssim_matches_skimage_synthetic_nonsquare() -> None:
    """Always runs (no data needed): smooth random images, 40 x 56, RGB."""
    rng = np.random.default_rng(1)
    imgs = [np.clip(gaussian_filter(rng.random((40, 56, 3)), (2, 2, 0)) * 2 - 0.5, 0, 1) for _ in range(2)]
    check_against_skimage(imgs)


def test_ssim_identical_is_one() -> None:
    x = torch.rand(3, 3, 32, 32)
    torch.testing.assert_close(ssim(x, x), torch.ones(3), atol=1e-5, rtol=0)


def test_band_matrix() -> None:
    g = gaussian_band_matrix(20, 1.5, dtype=torch.float64)
    assert g.shape == (10, 20)
    torch.testing.assert_close(g.sum(1), torch.ones(10, dtype=torch.float64))
    assert torch.equal(g[3, 3:14], g[0, 0:11]) and (g[3, :3] == 0).all() and (g[3, 14:] == 0).all()
    assert gaussian_band_matrix(20, 1.5, dtype=torch.float64) is g  # cached
    with pytest.raises(ValueError):
        gaussian_band_matrix(10, 1.5)


def test_ssim_gradcheck() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 2, 12, 13, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.rand(1, 2, 12, 13, dtype=torch.float64, generator=g)
    assert torch.autograd.gradcheck(lambda a: ssim(a, y), (x,))


def test_loss_value_and_parts() -> None:
    g = torch.Generator().manual_seed(0)
    target = torch.rand(4, 3, 32, 32, generator=g)
    recon = (target + 0.1 * torch.randn(4, 3, 32, 32, generator=g)).clamp(0, 1).requires_grad_()
    loss, parts = ReconstructionLoss(l1_weight=2.0, ssim_weight=0.5)(recon, target)
    l1 = (recon - target).abs().mean()
    s = ssim(recon, target).mean()
    torch.testing.assert_close(loss, 2.0 * l1 - 0.5 * s)
    assert set(parts) == {"l1", "ssim"}
    torch.testing.assert_close(parts["l1"], l1.detach())
    torch.testing.assert_close(parts["ssim"], s.detach())
    assert not parts["l1"].requires_grad and parts["ssim"].dtype == torch.float32
    loss.backward()
    assert recon.grad is not None and recon.grad.abs().sum() > 0


def test_loss_default_weights_and_errors() -> None:
    x = torch.rand(2, 1, 32, 32)
    loss, parts = ReconstructionLoss()(x, x)
    torch.testing.assert_close(loss, torch.tensor(-1.0), atol=1e-5, rtol=0)
    with pytest.raises(ValueError):
        ReconstructionLoss()(x, x[:1])
    with pytest.raises(ValueError):
        ReconstructionLoss(l1_weight=-1)
