"""Training-time input transforms: geometric augmentation and synthetic anomalies.

``Augmenter(...)(x, generator) -> (input, target)``. Geometric transforms
(flips, 90-degree rotations, grid shifts) change input and target alike.
Synthetic anomalies change only the input: the model learns to repaint a
corrupted region from its clean context, so a real defect in a neighbouring
patch does not leak into a patch's reconstruction ("robust context", as in
DRAEM / RIAD-style self-supervision). Every random draw comes from the
``torch.Generator`` passed in (the loop's batch generator, saved in
``last.pt``), so a resumed run stays bit-identical.

Coarse noise (``coarse_noise_prob``) adds Gaussian noise drawn on a coarse
grid and upsampled bilinearly to the whole input, target clean: the denoising
corruption that made a plain denoising autoencoder state of the art on brain
CT and MRI anomalies (Kascenas et al., "The role of noise in denoising models
for anomaly detection in medical images", MedIA 2023: noise at 16x16 for
128-px slices, std about 0.2). Lesions there differ from normal tissue in
smooth, low-frequency intensity, which the blob family above does not mimic.

The synthetic family used here (smooth random blobs filled with another
image, uniform noise or a brightness change) is deliberately different from
the one in :mod:`metal_pipeline.scoring.synthetic` used for validation
(rectangles and discs), so model selection is not tuned on its own training
corruption.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from metal_pipeline.params.validate import reject_unknown_keys

FLIPS = ("h", "v")


@dataclass(frozen=True)
class AugmentConfig:
    """What :class:`Augmenter` does.

    Attributes:
        flips: subset of ``["h", "v"]``: random horizontal / vertical flips.
            Only for classes whose normal images stay normal when flipped.
        rot90: random multiples of 90 degrees (rotation-symmetric classes only).
        shift: roll images by a random ``(dy, dx)`` in ``[0, shift)`` pixels,
            so any patch-grid offset used at test time is in distribution.
        synthetic_prob: probability that an image gets a synthetic anomaly.
        synthetic_max_blobs: up to this many blobs per corrupted image.
        coarse_noise_prob: probability that an image gets coarse noise.
        coarse_noise_std: the noise's standard deviation (pixel values in [0, 1]).
        coarse_noise_res: the side of the grid the noise is drawn on before upsampling.
    """

    flips: tuple[str, ...] = ()
    rot90: bool = False
    shift: int = 0
    synthetic_prob: float = 0.0
    synthetic_max_blobs: int = 3
    coarse_noise_prob: float = 0.0
    coarse_noise_std: float = 0.2
    coarse_noise_res: int = 16

    def __post_init__(self) -> None:
        flips = tuple(self.flips or ())
        bad = [f for f in flips if f not in FLIPS]
        if bad:
            raise ValueError(f"augment.flips must be a subset of {list(FLIPS)}, got {list(flips)}")
        object.__setattr__(self, "flips", flips)
        if not isinstance(self.rot90, bool):
            raise ValueError(f"augment.rot90 must be true or false, got {self.rot90!r}")
        if isinstance(self.shift, bool) or not isinstance(self.shift, int) or self.shift < 0:
            raise ValueError(f"augment.shift must be an integer >= 0, got {self.shift!r}")
        for name in ("synthetic_prob", "coarse_noise_prob"):
            p = getattr(self, name)
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
                raise ValueError(f"augment.{name} must be a number in [0, 1], got {p!r}")
            object.__setattr__(self, name, float(p))
        if isinstance(self.synthetic_max_blobs, bool) or not isinstance(self.synthetic_max_blobs, int) \
                or self.synthetic_max_blobs < 1:
            raise ValueError(f"augment.synthetic_max_blobs must be an integer >= 1, got {self.synthetic_max_blobs!r}")
        std = self.coarse_noise_std
        if isinstance(std, bool) or not isinstance(std, (int, float)) or not std > 0:
            raise ValueError(f"augment.coarse_noise_std must be a number > 0, got {std!r}")
        object.__setattr__(self, "coarse_noise_std", float(std))
        res = self.coarse_noise_res
        if isinstance(res, bool) or not isinstance(res, int) or res < 1:
            raise ValueError(f"augment.coarse_noise_res must be an integer >= 1, got {res!r}")

    @property
    def active(self) -> bool:
        return bool(self.flips or self.rot90 or self.shift or self.synthetic_prob or self.coarse_noise_prob)

    def to_dict(self) -> dict:
        """The settings; without the coarse-noise keys while it is off, so the checkpoint
        fingerprints of runs trained before it existed stay valid."""
        d = asdict(self)
        d["flips"] = list(self.flips)
        if not self.coarse_noise_prob:
            for key in ("coarse_noise_prob", "coarse_noise_std", "coarse_noise_res"):
                del d[key]
        return d

    @classmethod
    def from_dict(cls, params) -> "AugmentConfig":
        params = dict(params or {})
        reject_unknown_keys(params, set(cls.__dataclass_fields__), "unknown augment parameter(s)")
        if "flips" in params:
            params["flips"] = tuple(params["flips"] or ())
        return cls(**params)


def blob_masks(n: int, h: int, w: int, generator: torch.Generator, max_blobs: int = 3) -> torch.Tensor:
    """``(n, 1, h, w)`` float masks in {0, 1}: one to ``max_blobs`` smooth random blobs per image.

    Each blob is a thresholded, bilinearly upsampled 4x4 noise field (a cheap
    stand-in for Perlin noise) restricted to a random rectangle, so blobs vary
    in size, shape and place. Vectorised over images and blobs.
    """
    m = n * max_blobs
    noise = torch.rand(m, 1, 4, 4, generator=generator)
    fields = F.interpolate(noise, size=(h, w), mode="bilinear", align_corners=False)[:, 0]
    bh = torch.randint(h // 16 + 2, h // 3 + 1, (m,), generator=generator)
    bw = torch.randint(w // 16 + 2, w // 3 + 1, (m,), generator=generator)
    y0 = (torch.rand(m, generator=generator) * (h - bh + 1)).long()
    x0 = (torch.rand(m, generator=generator) * (w - bw + 1)).long()
    thr = torch.rand(m, generator=generator) * 0.3 + 0.35
    counts = torch.randint(1, max_blobs + 1, (n,), generator=generator)
    ys = torch.arange(h).view(1, h, 1)
    xs = torch.arange(w).view(1, 1, w)
    inside = ((ys >= y0.view(m, 1, 1)) & (ys < (y0 + bh).view(m, 1, 1))
              & (xs >= x0.view(m, 1, 1)) & (xs < (x0 + bw).view(m, 1, 1)))
    blobs = inside & (fields > thr.view(m, 1, 1))
    used = (torch.arange(max_blobs).view(1, max_blobs) < counts.view(n, 1)).view(m, 1, 1)
    blobs = (blobs & used).view(n, max_blobs, h, w).any(dim=1)
    # Where the noise stayed under its threshold everywhere, fall back to the
    # ellipse inscribed in the image's first rectangle: every mask is non-empty.
    cy = (y0 + bh / 2.0).view(m, 1, 1)
    cx = (x0 + bw / 2.0).view(m, 1, 1)
    ellipse = (((ys + 0.5 - cy) / (bh.view(m, 1, 1) / 2.0)).square()
               + ((xs + 0.5 - cx) / (bw.view(m, 1, 1) / 2.0)).square()) <= 1.0
    first = ellipse.view(n, max_blobs, h, w)[:, 0]
    empty = ~blobs.flatten(1).any(dim=1)
    blobs = torch.where(empty.view(n, 1, 1), first, blobs)
    return blobs.unsqueeze(1).float()


def synthetic_anomalies(x: torch.Tensor, generator: torch.Generator, prob: float,
                        max_blobs: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt some images of a batch; returns ``(corrupted, masks)``.

    Fill of each blob, chosen at random: another image of the batch (rolled,
    so content is out of place), uniform noise, or the image itself with
    brightness scaled by 0.4-1.6. Blended with opacity 0.5-1.
    """
    n, c, h, w = x.shape
    chosen = torch.rand(n, generator=generator) < prob
    masks = torch.zeros(n, 1, h, w)
    if not bool(chosen.any()):
        return x, masks.to(x.device)
    masks[chosen] = blob_masks(int(chosen.sum()), h, w, generator, max_blobs)
    kind = torch.randint(0, 3, (n,), generator=generator)
    opacity = torch.rand(n, generator=generator) * 0.5 + 0.5
    scale = torch.rand(n, generator=generator) * 1.2 + 0.4
    noise = torch.rand(n, c, h, w, generator=generator)
    perm = torch.roll(torch.arange(n), 1)
    dy = int(torch.randint(0, h, (1,), generator=generator))
    dx = int(torch.randint(0, w, (1,), generator=generator))
    cpu = x.detach().to("cpu")
    other = torch.roll(cpu[perm], (dy, dx), dims=(2, 3))
    fill = torch.where(kind.view(n, 1, 1, 1) == 0, other,
                       torch.where(kind.view(n, 1, 1, 1) == 1, noise, (cpu * scale.view(n, 1, 1, 1)).clamp(0, 1)))
    alpha = masks * opacity.view(n, 1, 1, 1)
    out = cpu * (1 - alpha) + fill * alpha
    return out.to(x.device), masks.to(x.device)


def coarse_noise(x: torch.Tensor, generator: torch.Generator, prob: float, std: float, res: int) -> torch.Tensor:
    """Add to some images of a batch Gaussian noise drawn at ``res x res`` per channel and upsampled
    bilinearly to the image size (Kascenas et al. 2023); values clamped to [0, 1]."""
    n, c, h, w = x.shape
    chosen = (torch.rand(n, generator=generator) < prob).float().view(n, 1, 1, 1)
    noise = torch.randn(n, c, res, res, generator=generator) * std
    noise = F.interpolate(noise, size=(h, w), mode="bilinear", align_corners=False) * chosen
    return (x.detach().to("cpu") + noise).clamp(0, 1).to(x.device)


class Augmenter:
    """``(x, generator) -> (model input, reconstruction target)``."""

    def __init__(self, config: AugmentConfig | dict | None) -> None:
        if not isinstance(config, AugmentConfig):
            config = AugmentConfig.from_dict(config)
        self.config = config

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        n = x.shape[0]
        if c.flips or c.rot90:
            x = x.clone()
            for i in range(n):
                img = x[i]
                if "h" in c.flips and bool(torch.rand(1, generator=generator) < 0.5):
                    img = img.flip(-1)
                if "v" in c.flips and bool(torch.rand(1, generator=generator) < 0.5):
                    img = img.flip(-2)
                if c.rot90:
                    img = torch.rot90(img, int(torch.randint(0, 4, (1,), generator=generator)), dims=(-2, -1))
                x[i] = img
        if c.shift:
            dy = int(torch.randint(0, c.shift, (1,), generator=generator))
            dx = int(torch.randint(0, c.shift, (1,), generator=generator))
            x = torch.roll(x, (dy, dx), dims=(2, 3))
        target = x
        if c.synthetic_prob:
            x, _ = synthetic_anomalies(x, generator, c.synthetic_prob, c.synthetic_max_blobs)
        if c.coarse_noise_prob:
            x = coarse_noise(x, generator, c.coarse_noise_prob, c.coarse_noise_std, c.coarse_noise_res)
        return x, target
