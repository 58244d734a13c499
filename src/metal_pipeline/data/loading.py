"""From a list of files to an ``ImageSet``: channel rule, decoding, resizing, masks, summary."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.data.images import has_colour, image_mode, is_grayscale_mode, read_image, resize_image, resize_mask

logger = logging.getLogger(__name__)

GOOD = "good"


@dataclass(frozen=True)
class ImageRecord:
    """One source image found on disk, before decoding.

    ``mask_path`` is ``None`` for good images and for datasets without pixel labels.
    """

    path: Path
    name: str
    defect: str
    label: int
    mask_path: Path | None = None


def parse_channels(setting: int | str) -> int | str:
    """Normalise the ``channels`` parameter to 1, 3 or ``"auto"``."""
    text = str(setting).strip().lower()
    if text == "auto":
        return "auto"
    if text in ("1", "3"):
        return int(text)
    raise DataError(
        f"Parameter ingestion.channels is {setting!r}; it must be 1, 3 or auto. "
        "Fix it in conf/base/parameters_ingestion.yml or pass --params ingestion.channels=auto."
    )


def resolve_channels(setting: int | str, train_paths: Sequence[Path]) -> int:
    """Channel count for a class: the setting itself, or for ``auto`` 1 when every
    training image is gray -- stored in a grayscale Pillow mode (``L``, ``LA``,
    ``I;16``, ...), or in a colour mode with equal red, green and blue (CT slices
    saved as RGB) -- and 3 otherwise. Headers decide for grayscale modes; colour
    modes are decoded until the first image with real colour, so a colour class
    costs one decode.
    """
    choice = parse_channels(setting)
    if choice != "auto":
        return int(choice)
    if not train_paths:
        raise DataError("Cannot decide channels=auto without training images.")
    mode_of = {path: image_mode(path) for path in train_paths}
    modes = Counter(mode_of.values())
    channels = 1
    for path, mode in mode_of.items():
        if not is_grayscale_mode(mode):
            with read_image(path) as img:
                if has_colour(img):
                    channels = 3
                    break
    logger.info("channels=auto -> %d (training image modes: %s%s)", channels,
                ", ".join(f"{m} x{c}" for m, c in sorted(modes.items())),
                "" if channels == 3 or all(is_grayscale_mode(m) for m in modes)
                else "; colour-mode files hold equal red, green and blue")
    return channels


def load_image_set(
    records: Sequence[ImageRecord],
    size: int,
    channels: int,
    *,
    with_masks: bool,
    desc: str = "images",
) -> ImageSet:
    """Decode, check and resize every record into one ``ImageSet``.

    With ``with_masks`` the set carries a mask per image: the resized ground
    truth for records with a ``mask_path``, all zeros for the others (good
    images). A mask whose size differs from its image raises ``DataError``.
    """
    n = len(records)
    images = np.zeros((n, channels, size, size), dtype=np.uint8)
    masks = np.zeros((n, size, size), dtype=np.uint8) if with_masks else None
    sizes = np.zeros((n, 2), dtype=np.int64)
    for i, rec in enumerate(tqdm(records, desc=desc, unit="img", disable=None, leave=False)):
        with read_image(rec.path) as img:
            width, height = img.size
            images[i] = resize_image(img, size, channels)
        sizes[i] = (height, width)
        if masks is not None and rec.mask_path is not None:
            with read_image(rec.mask_path) as mask:
                if mask.size != (width, height):
                    raise DataError(
                        f"Mask '{rec.mask_path}' is {mask.size[0]}x{mask.size[1]} (width x height) but its image "
                        f"'{rec.path}' is {width}x{height}. A ground-truth mask must have exactly the size of its "
                        "image. Fix: re-export the mask at the image's size, or check that the mask belongs to "
                        "this image (MVTec naming: ground_truth/<defect>/<stem>_mask.png)."
                    )
                masks[i] = resize_mask(mask, size)
            if rec.label == 1 and not masks[i].any():
                logger.warning("Mask '%s' of anomalous image '%s' is empty at %dx%d.", rec.mask_path, rec.path,
                               size, size)
    return ImageSet(
        images=images,
        names=[r.name for r in records],
        defects=[r.defect for r in records],
        labels=np.array([r.label for r in records], dtype=np.int64),
        masks=masks,
        source_paths=[str(r.path) for r in records],
        mask_paths=["" if r.mask_path is None else str(r.mask_path) for r in records],
        original_sizes=sizes,
    )


def empty_like(image_set: ImageSet) -> ImageSet:
    """A zero-length ``ImageSet`` with the same channels, size and mask presence."""
    return image_set.subset(np.array([], dtype=np.int64))


def describe(image_set: ImageSet) -> str:
    """One line: count, images per defect, channels, size (used for the split log lines)."""
    counts = Counter(image_set.defects)
    per_defect = ", ".join(f"{d} {counts[d]}" for d in sorted(counts, key=lambda d: (d != GOOD, d)))
    masks = "with masks" if image_set.masks is not None else "no masks"
    return (f"{len(image_set)} images ({per_defect or 'none'}), {image_set.channels} channel(s), "
            f"{image_set.images.shape[2]}x{image_set.images.shape[3]}, {masks}")
