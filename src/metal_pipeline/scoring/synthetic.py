"""Synthetic anomalies pasted onto validation normals: a model-selection signal
that never looks at the test set.

The family here (rectangles of displaced content, discs of flat colour, thin
straight scratches) differs from the training corruption of
:mod:`metal_pipeline.training.augment` (smooth blobs), so a recipe that trains
on synthetic anomalies is not scored on the very corruption it learned.
Deterministic for a given ``seed``.
"""

from __future__ import annotations

import numpy as np

KINDS = ("patch", "disc", "scratch")


def paste_anomalies(images: np.ndarray, seed: int = 0, per_image: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(corrupted uint8 (n, C, H, W), masks uint8 (n, H, W) in {0, 1})``.

    Every image gets ``per_image`` anomalies of random kind, size and place.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"paste_anomalies: images must be uint8 (n, C, H, W), got {images.dtype} {images.shape}")
    if per_image < 1:
        raise ValueError(f"paste_anomalies: per_image must be >= 1, got {per_image}")
    rng = np.random.default_rng(seed)
    n, c, h, w = images.shape
    out = images.copy()
    masks = np.zeros((n, h, w), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        for _ in range(per_image):
            kind = KINDS[int(rng.integers(len(KINDS)))]
            region = np.zeros((h, w), dtype=bool)
            if kind == "patch":
                ph, pw = (int(v) for v in rng.integers(max(4, h // 20), max(5, h // 5) + 1, size=2))
                y, x = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
                src = images[int(rng.integers(n))]
                sy, sx = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
                content = src[:, sy:sy + ph, sx:sx + pw].astype(np.float32)
                content = np.clip(content * rng.uniform(0.6, 1.4) + rng.uniform(-30, 30), 0, 255)
                out[i, :, y:y + ph, x:x + pw] = content.astype(np.uint8)
                region[y:y + ph, x:x + pw] = True
            elif kind == "disc":
                r = float(rng.uniform(max(2.0, h / 40), max(3.0, h / 10)))
                cy, cx = rng.uniform(r, h - r), rng.uniform(r, w - r)
                region = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
                colour = rng.integers(0, 256, size=c).astype(np.uint8)
                out[i][:, region] = colour[:, None]
            else:  # scratch: a thin straight line at a random angle
                length = float(rng.uniform(h / 8, h / 3))
                width = float(rng.uniform(1.0, 2.5))
                angle = float(rng.uniform(0, np.pi))
                cy, cx = rng.uniform(0.2 * h, 0.8 * h), rng.uniform(0.2 * w, 0.8 * w)
                dy, dx = np.sin(angle), np.cos(angle)
                along = (yy - cy) * dy + (xx - cx) * dx
                across = -(yy - cy) * dx + (xx - cx) * dy
                region = (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)
                colour = rng.integers(0, 256, size=c).astype(np.uint8)
                out[i][:, region] = colour[:, None]
            # Only pixels that actually changed are anomalous.
            changed = np.any(out[i] != images[i], axis=0)
            masks[i] |= (region & changed).astype(np.uint8)
    return out, masks
