"""Ground-truth masks and anomaly maps on one grid, for evaluation.

``model``: the masks ingestion stored at model resolution. ``original``: each
mask re-read at its own size (good images get an all-zero mask of the
image's size) and the maps upsampled to match, as the official MVTec AD
evaluation does.
"""

from __future__ import annotations

import numpy as np

from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.data.images import binarize_mask, read_image
from metal_pipeline.scoring.resize import resize_maps


def masks_and_maps(test_set: ImageSet, maps: np.ndarray, resolution: str):
    """``(masks, maps)`` on the same grid, or ``(None, None)`` for image-level datasets."""
    if test_set.masks is None:
        return None, None
    if resolution == "model":
        return test_set.masks, maps
    if resolution != "original":
        raise ValueError(f"evaluation.resolution must be 'model' or 'original', got {resolution!r}")
    masks = []
    for mask_path, size in zip(test_set.mask_paths, test_set.original_sizes):
        if mask_path:
            masks.append(binarize_mask(read_image(mask_path)).astype(np.uint8))
        else:
            masks.append(np.zeros(tuple(int(s) for s in size), dtype=np.uint8))
    return masks, resize_maps(maps, [m.shape for m in masks])
