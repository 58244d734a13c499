"""Measure how much a square's own pixels reach its reconstruction.

    python -m metal_pipeline.cli.leak [--depth 1 2] [--configurations ...]
        [--images DIR --train-steps 200] [--threads 2] [--checkpoint detector.pt]
    kedro leak [...]               (the same, from the project folder)

For every square i of the image and its 4-neighbours j (up, down, left, right
inside the grid) it estimates the Frobenius norms of the Jacobian blocks
``J_ij = d recon(square i) / d input(square j)`` and reports

    relative leak = mean_i ||J_ii||_F / mean_i mean_{j in N4(i)} ||J_ij||_F

i.e. how strongly square i's reconstruction reacts to its own pixels compared
with its neighbours' (1.0: as much as to a neighbour; 0: not at all).

Estimator: ``||J_ij||_F^2 = E_v ||v^T J_ij||^2`` for a standard Gaussian
probe v on output square i (Hutchinson). All p*p output squares are probed in
one backward pass by giving each square its own copy of the image (images of a
batch never interact). ``--probes`` probes per image, ``--num-images`` images.

The model is measured at initialisation, and optionally after
``--train-steps`` Adam steps (lr 1e-3, batch 16, L1 - SSIM) on the images of
``--images``: an identity shortcut matters once training can exploit it. Inputs
are those images (or uniform noise without ``--images``), read and resized by
``metal_pipeline.data.images.load_image``, so they are the pixels ingestion
would give the model.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from metal_pipeline.data.images import IMAGE_EXTENSIONS, is_image_name, load_image
from metal_pipeline.model.config import CONFIGURATIONS, MeTALConfig
from metal_pipeline.model.loss import ReconstructionLoss
from metal_pipeline.model.metal import MeTAL


def load_images(folder: str, size: int, channels: int, limit: int | None = None) -> torch.Tensor:
    """Images of a folder (recursively) as ``(n, C, size, size)`` float in [0, 1], with ingestion's pixels."""
    import numpy as np

    files = sorted(p for p in Path(folder).rglob("*") if p.is_file() and is_image_name(p.name))
    if limit:
        files = files[:limit]
    if not files:
        raise SystemExit(f"No images ({', '.join(IMAGE_EXTENSIONS)}) under '{folder}'. "
                         "Fix: point --images at a folder of images, e.g. <class>/train/good.")
    return torch.from_numpy(np.stack([load_image(f, size, channels) for f in files]).astype(np.float32) / 255.0)


def block_norms(model: MeTAL, x: torch.Tensor, probes: int = 4, seed: int = 0) -> torch.Tensor:
    """Estimated ``||J_ij||_F`` per image: ``(B, T, T)`` (output square i, input square j)."""
    cfg = model.config
    p, k, c, n = cfg.grid, cfg.patch_size, cfg.channels, cfg.img_size
    t = p * p
    masks = torch.zeros(t, c, n, n, dtype=x.dtype)
    for i in range(t):
        r, cc = divmod(i, p)
        masks[i, :, r * k:(r + 1) * k, cc * k:(cc + 1) * k] = 1
    g = torch.Generator().manual_seed(seed)
    sq = torch.zeros(x.shape[0], t, t, dtype=torch.float64)
    for b in range(x.shape[0]):
        for _ in range(probes):
            xr = x[b:b + 1].expand(t, -1, -1, -1).clone().requires_grad_(True)
            v = torch.randn(t, c, n, n, generator=g, dtype=x.dtype) * masks
            (model(xr) * v).sum().backward()
            grad = xr.grad.reshape(t, c, p, k, p, k).permute(0, 2, 4, 1, 3, 5).reshape(t, t, -1)
            sq[b] += grad.double().pow(2).sum(-1)
    return (sq / probes).sqrt()


def neighbour_mask(p: int) -> torch.Tensor:
    t = p * p
    m = torch.zeros(t, t, dtype=torch.bool)
    for i in range(t):
        r, c = divmod(i, p)
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            if 0 <= r + dr < p and 0 <= c + dc < p:
                m[i, (r + dr) * p + c + dc] = True
    return m


def relative_leak(norms: torch.Tensor, p: int) -> tuple[float, float, float]:
    """(mean ||J_ii||, mean neighbour ||J_ij||, ratio) over images and squares."""
    diag = norms.diagonal(dim1=1, dim2=2).mean().item()
    neigh = norms[:, neighbour_mask(p)].mean().item()
    return diag, neigh, diag / neigh if neigh > 0 else float("nan")


def train_briefly(model: MeTAL, images: torch.Tensor, steps: int, batch: int = 16, lr: float = 1e-3,
                  seed: int = 0) -> float:
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = ReconstructionLoss()
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        idx = torch.randint(len(images), (min(batch, len(images)),), generator=g)
        opt.zero_grad(set_to_none=True)
        loss, _ = loss_fn(model(images[idx]), images[idx])
        loss.backward()
        opt.step()
    model.eval()
    return loss.item()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Identity leak of MeTAL masking modes")
    ap.add_argument("--img-size", type=int, default=128)
    ap.add_argument("--patch-size", type=int, default=16)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--embed-dim", type=int, default=128)
    ap.add_argument("--num-heads", type=int, default=4)
    ap.add_argument("--depth", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--configurations", nargs="+", default=list(CONFIGURATIONS))
    ap.add_argument("--masking", nargs="+", default=["none", "paper", "strict"])
    ap.add_argument("--images", default=None, help="folder of training images (e.g. MVTec <class>/train/good)")
    ap.add_argument("--train-steps", type=int, default=0)
    ap.add_argument("--num-images", type=int, default=2)
    ap.add_argument("--probes", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", default=None,
                    help="measure a trained model instead: a detector.pt written by the training pipeline "
                         "(needs --images; its own size, channels and configuration are used)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.checkpoint:
        return _measure_checkpoint(args)

    images = None
    if args.images:
        images = load_images(args.images, args.img_size, args.channels)
    gen = torch.Generator().manual_seed(args.seed)
    if images is not None:
        probe_x = images[torch.randperm(len(images), generator=gen)[: args.num_images]]
    else:
        probe_x = torch.rand(args.num_images, args.channels, args.img_size, args.img_size, generator=gen)
    if args.train_steps and images is None:
        ap.error("--train-steps needs --images")

    print(f"N={args.img_size} K={args.patch_size} C={args.channels} D={args.embed_dim} H={args.num_heads} "
          f"probes={args.probes} images={len(probe_x)} train_steps={args.train_steps} "
          f"inputs={'images from ' + args.images if images is not None else 'uniform noise'}")
    print(f"{'configuration':18} {'masking':7} {'L':>1} {'stage':>6} {'||J_ii||':>10} {'||J_ij|| N4':>11} "
          f"{'rel. leak':>9} {'loss':>8} {'s':>5}")
    for depth in args.depth:
        for name in args.configurations:
            for masking in CONFIGURATIONS[name].masking_modes:
                if masking not in args.masking:
                    continue
                t0 = time.perf_counter()
                torch.manual_seed(args.seed)
                cfg = MeTALConfig(img_size=args.img_size, patch_size=args.patch_size, channels=args.channels,
                                  embed_dim=args.embed_dim, num_heads=args.num_heads, depth=depth,
                                  configuration=name, masking=masking)
                model = MeTAL(cfg).eval()
                stages = [("init", None)]
                if args.train_steps:
                    stages.append((f"{args.train_steps}st", args.train_steps))
                for stage, steps in stages:
                    loss = float("nan")
                    if steps:
                        loss = train_briefly(model, images, steps, seed=args.seed)
                    diag, neigh, ratio = relative_leak(block_norms(model, probe_x, args.probes, args.seed), cfg.grid)
                    print(f"{name:18} {masking:7} {depth:>1} {stage:>6} {diag:>10.3e} {neigh:>11.3e} "
                          f"{ratio:>9.3f} {loss:>8.4f} {time.perf_counter() - t0:>5.0f}", flush=True)
    return 0


def _measure_checkpoint(args) -> int:
    """Relative leak of one trained model (a detector file, read with ``weights_only=True``) on real images."""
    from metal_pipeline.inference.detector_file import load_detector

    if not args.images:
        raise SystemExit("--checkpoint needs --images (a folder of images of the model's class)")
    model = load_detector(args.checkpoint).net.eval()  # an older, pickled file needs METAL_ALLOW_PICKLE=1
    cfg = model.config
    images = load_images(args.images, cfg.img_size, cfg.channels)
    gen = torch.Generator().manual_seed(args.seed)
    probe_x = images[torch.randperm(len(images), generator=gen)[: args.num_images]]
    t0 = time.perf_counter()
    diag, neigh, ratio = relative_leak(block_norms(model, probe_x, args.probes, args.seed), cfg.grid)
    print(f"{args.checkpoint}: {cfg.configuration}/{cfg.masking} L={cfg.depth} images={len(probe_x)} "
          f"probes={args.probes}: ||J_ii||={diag:.3e} ||J_ij|| N4={neigh:.3e} relative leak={ratio:.3f} "
          f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
