"""The files predict makes per scored image (heatmap TIFF, optional overlay PNG): their pixels,
their writers (the catalog's datasets save through them), and their removal when an input that
was scored before now fails."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from metal_pipeline.inference.overlay import overlay_heatmap, overlay_scale
from metal_pipeline.inference.prepared_image import prepare_image
from metal_pipeline.scoring import resize_maps
from metal_pipeline.utils.atomic import atomic_path, write_error

HEATMAPS_DIR = "heatmaps"
OVERLAYS_DIR = "overlays"
HEATMAP_SUFFIX = ".tiff"
OVERLAY_SUFFIX = ".png"
PNG_COMPRESS_LEVEL = 1
"""zlib level of the overlay PNGs: on the 256 px bottle images level 1 encodes in ~10 ms instead of
~23 ms with Pillow's default 6 (which was ~40 % of the end-to-end time), for files ~10 % larger."""


def heatmap_at_size(smap: np.ndarray, height: int, width: int) -> np.ndarray:
    """A model-resolution map resized to its file's size (bilinear, float32): the heatmap TIFF's pixels."""
    return np.ascontiguousarray(resize_maps(smap[None], [(height, width)])[0], dtype=np.float32)


def overlay_picture(smap: np.ndarray, source: Path, size: int, channels: int, gray_from_color: bool,
                    threshold: float | None, colormap: str, alpha: float) -> np.ndarray:
    """The overlay PNG's pixels: the heatmap in colour over the file's own picture, read again from
    ``source`` (so predict holds only model-resolution maps until the catalog saves the outputs)."""
    prepared = prepare_image(source, size, channels, gray_from_color=gray_from_color)
    heatmap = heatmap_at_size(smap, prepared.height, prepared.width)
    return overlay_heatmap(prepared.display, heatmap, overlay_scale(heatmap, threshold), colormap, alpha)


def write_overlay(path: str | Path, picture: np.ndarray) -> None:
    """One overlay (uint8 ``(H, W, 3)``) as a PNG, written atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(picture, dtype=np.uint8)).save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL)


def heatmap_path(output_dir: str | Path, out: PurePosixPath) -> Path:
    return Path(output_dir) / HEATMAPS_DIR / f"{out}{HEATMAP_SUFFIX}"


def overlay_path(output_dir: str | Path, out: PurePosixPath) -> Path:
    return Path(output_dir) / OVERLAYS_DIR / f"{out}{OVERLAY_SUFFIX}"


def remove_stale_outputs(output_dir: str | Path, out: PurePosixPath) -> str:
    """Delete the heatmap and overlay an earlier run wrote for an input that now fails.

    Returns the sentence for the CSV's error column (empty when there was nothing
    to remove). A file that cannot be removed stops the run (``OutputWriteError``),
    since leaving it would pair a stale heatmap with the new error row.
    """
    removed = [str(path) for path in (heatmap_path(output_dir, out), overlay_path(output_dir, out)) if remove(path)]
    if not removed:
        return ""
    return f"The heatmap and overlay of an earlier run for this file were removed ({', '.join(removed)})."


def remove(path: Path) -> bool:
    """Delete ``path`` if it is there (True when it was); a file that cannot be removed is an
    ``OutputWriteError`` naming it."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise write_error(path, exc, action="remove") from exc
    return True
