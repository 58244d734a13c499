"""Running a trained network over uint8 images: the one batched, eval-mode,
gradient-free loop that every map, score and panel goes through."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from metal_pipeline.utils.precision import autocast

Offset = tuple[int, int]


def reconstruction_batches(
    model: nn.Module,
    images_uint8: np.ndarray,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    offsets: Sequence[Offset] = ((0, 0),),
    amp: str = "off",
) -> Iterator[tuple[int, torch.Tensor, dict[Offset, torch.Tensor]]]:
    """Yield ``(start, x, {offset: reconstruction})`` per batch of ``images_uint8``.

    ``x`` is the batch as float32 in [0, 1] on ``device`` (``ImageSet.as_float``'s
    convention). For an offset ``(dy, dx)`` the batch is rolled by it, reconstructed
    and rolled back, so every reconstruction is aligned with ``x``: averaging maps
    over offsets inpaints each pixel from several grid positions. The model runs in
    ``eval()`` mode under ``torch.inference_mode()`` and gets its previous mode back
    afterwards (also when the caller stops early). The model must be on ``device``.
    ``amp="bf16"`` runs the model under bf16 autocast (``scoring.amp``); the
    reconstructions come back as float32 either way.

    Raises:
        ValueError: bad input dtype/shape, batch size or a model output of another shape.
    """
    _check_inputs(images_uint8, batch_size)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(images_uint8), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(images_uint8[start : start + batch_size]))
                x = batch.to(device=device, dtype=torch.float32).div_(255.0)
                out: dict[Offset, torch.Tensor] = {}
                for dy, dx in offsets:
                    shifted = torch.roll(x, (dy, dx), dims=(2, 3)) if (dy or dx) else x
                    with autocast(amp, x.device):
                        y = model(shifted)
                    y = y.float()
                    if tuple(y.shape) != tuple(x.shape):
                        raise ValueError(f"reconstruct: model returned {tuple(y.shape)} for input {tuple(x.shape)}")
                    out[(dy, dx)] = torch.roll(y, (-dy, -dx), dims=(2, 3)) if (dy or dx) else y
                yield start, x, out
    finally:
        model.train(was_training)


def reconstruct(
    model: nn.Module,
    images_uint8: np.ndarray,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """The reconstructions of ``images_uint8`` (float32 ``(n, C, H, W)`` numpy array on the CPU),
    computed by :func:`reconstruction_batches` at offset 0."""
    _check_inputs(images_uint8, batch_size)
    out = np.empty(images_uint8.shape, dtype=np.float32)
    for start, x, recs in reconstruction_batches(model, images_uint8, batch_size, device):
        out[start : start + len(x)] = recs[(0, 0)].detach().to("cpu", torch.float32).numpy()
    return out


def _check_inputs(images_uint8: np.ndarray, batch_size: int) -> None:
    if not isinstance(images_uint8, np.ndarray) or images_uint8.dtype != np.uint8 or images_uint8.ndim != 4:
        raise ValueError(
            f"reconstruct: images must be a uint8 (n, C, H, W) array, got "
            f"{getattr(images_uint8, 'dtype', type(images_uint8))} {getattr(images_uint8, 'shape', '')}"
        )
    if batch_size < 1:
        raise ValueError(f"reconstruct: batch_size must be >= 1, got {batch_size}")
