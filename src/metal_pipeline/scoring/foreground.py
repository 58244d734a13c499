"""The region of an image that an image score looks at, computed from the image itself.

On slices such as Head CT, the largest reconstruction errors of *normal* images
sit on the bright skull rim and on the head's outline, which vary from patient
to patient; a haemorrhage lies inside. Scoring only the object's interior
keeps the rim from deciding the image score. No labels and no learned
segmentation: Otsu's threshold on the gray image separates the object from a
dark background, holes are filled (the brain inside the skull), the largest
component is kept, and an erosion of ``erode`` pixels drops the rim itself.

The pixel maps are left whole (heatmaps still show everything); only the image
score is restricted.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.morphology import disk

REGIONS: tuple[str, ...] = ("all", "foreground")

#: A foreground smaller than this share of the image is not trusted: the image
#: is scored whole instead (a blank frame, or an object touching every border).
MIN_FOREGROUND_SHARE = 0.02


def foreground_mask(image: np.ndarray, erode: int = 0) -> np.ndarray:
    """bool ``(H, W)``: the largest bright object of ``image`` (``(C, H, W)`` or ``(H, W)``), holes filled,
    eroded by a disc of radius ``erode`` pixels. Falls back to every pixel when too little remains."""
    image = np.asarray(image)
    if image.ndim == 3:
        gray = image.astype(np.float32).mean(axis=0)
    elif image.ndim == 2:
        gray = image.astype(np.float32)
    else:
        raise ValueError(f"foreground_mask: image must be (C, H, W) or (H, W), got {image.shape}")
    if erode < 0:
        raise ValueError(f"foreground_mask: erode must be >= 0, got {erode}")
    everything = np.ones(gray.shape, dtype=bool)
    if float(gray.max()) == float(gray.min()):
        return everything
    mask = ndi.binary_fill_holes(gray > threshold_otsu(gray))
    labels, n = ndi.label(mask)
    if n > 1:
        sizes = ndi.sum(mask, labels, index=np.arange(1, n + 1))
        mask = labels == 1 + int(np.argmax(sizes))
    if erode:
        mask = ndi.binary_erosion(mask, structure=disk(erode))
    if mask.sum() < MIN_FOREGROUND_SHARE * mask.size:
        return everything
    return mask


def region_masks(images: np.ndarray, region: str = "all", erode: int = 0) -> np.ndarray | None:
    """bool ``(n, H, W)`` masks of the scored region, or None for ``"all"`` (every pixel)."""
    if region not in REGIONS:
        raise ValueError(f"region must be one of {list(REGIONS)}, got {region!r}")
    if region == "all":
        return None
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"region_masks: images must be (n, C, H, W), got {images.shape}")
    return np.stack([foreground_mask(im, erode) for im in images]) if len(images) else \
        np.zeros((0,) + images.shape[2:], dtype=bool)
