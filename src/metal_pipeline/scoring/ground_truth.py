"""Ground-truth masks and anomaly maps on one grid, for evaluation.

``model``: the masks ingestion stored at model resolution. ``original``: each
mask at its own size, from the catalog's ``raw_masks`` (the class folder's
ground-truth files, loaded when needed; good images get an all-zero mask of the
image's size), and the maps upsampled to match, as the official MVTec AD
evaluation does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.scoring.resize import resize_maps


def masks_and_maps(test_set: ImageSet, maps: np.ndarray, resolution: str,
                   raw_masks: Mapping[str, Callable[[], np.ndarray]]):
    """``(masks, maps)`` on the same grid, or ``(None, None)`` for image-level datasets.

    ``raw_masks``: the original-resolution masks by resolved file path (``MaskFolderDataset``),
    each a loader called only for ``original``."""
    if test_set.masks is None:
        return None, None
    if resolution == "model":
        return test_set.masks, maps
    if resolution != "original":
        raise ValueError(f"evaluation.resolution must be 'model' or 'original', got {resolution!r}")
    masks = []
    for name, mask_path, size in zip(test_set.names, test_set.mask_paths, test_set.original_sizes):
        if mask_path:
            load = raw_masks.get(str(Path(mask_path).resolve()))
            if load is None:
                raise DataError(
                    f"The ground-truth mask '{mask_path}' of test image '{name}' is not among the class folder's "
                    "masks (the catalog's raw_masks: <class folder>/ground_truth/); it was moved or deleted "
                    "after the split was made. Fix: put it back, or delete the split folder under "
                    "data/05_model_input/ so that ingestion makes it again from the current files.")
            masks.append(load())
        else:
            masks.append(np.zeros(tuple(int(s) for s in size), dtype=np.uint8))
    return masks, resize_maps(maps, [m.shape for m in masks])
