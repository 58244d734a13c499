"""Catalog a class's ground-truth masks at their own resolution (read-only).

``load()`` returns ``{path: loader}`` for every image file under
``<class folder>/ground_truth/`` (none for a class without pixel labels, such as
Head CT), keyed by the file's resolved path, the key
:func:`metal_pipeline.scoring.ground_truth.masks_and_maps` looks up each test
image's ``ImageSet.mask_paths`` entry under. Each loader reads one mask when
called and returns it binary, uint8 ``(H, W)`` (``binarize_mask``), so an
evaluation at model resolution reads none. The folder comes from the parameters
like ``raw_class_folder``'s (``${run:class_folder}``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

from metal_pipeline.data.images import binarize_mask, is_image_name, read_image

GROUND_TRUTH_DIR = "ground_truth"


def read_mask(path: Path) -> np.ndarray:
    """One mask file as the evaluation compares it: binary, uint8, at the file's own size."""
    return binarize_mask(read_image(path)).astype(np.uint8)


class MaskFolderDataset(AbstractDataset[None, dict[str, Callable[[], np.ndarray]]]):
    # ``folder``, not ``path``: as for ClassFolderDataset, the folder stays as the user gave it.
    def __init__(self, folder: str, metadata: dict[str, Any] | None = None) -> None:
        self._folder = PurePosixPath(folder)
        self.metadata = metadata

    def load(self) -> dict[str, Callable[[], np.ndarray]]:
        root = Path(self._folder) / GROUND_TRUTH_DIR
        masks: dict[str, Callable[[], np.ndarray]] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if is_image_name(name):
                    path = Path(dirpath) / name
                    masks[str(path.resolve())] = partial(read_mask, path)
        return masks

    def save(self, data: None) -> None:
        raise DatasetError(f"{self._folder / GROUND_TRUTH_DIR} is raw data: this project never writes it.")

    def _exists(self) -> bool:
        return (Path(self._folder) / GROUND_TRUTH_DIR).is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"folder": str(self._folder / GROUND_TRUTH_DIR)}
