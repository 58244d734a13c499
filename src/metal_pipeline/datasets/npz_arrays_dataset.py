"""Catalog a dict of numpy arrays as one compressed ``.npz``, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from metal_pipeline.datasets.single_file_dataset import SingleFileDataset
from metal_pipeline.utils.atomic import atomic_path


class NpzArraysDataset(SingleFileDataset):
    def load(self) -> dict[str, np.ndarray]:
        with np.load(self._existing_path(), allow_pickle=False) as z:
            return {key: z[key] for key in z.files}

    def save(self, data: dict[str, np.ndarray]) -> None:
        arrays = {k: np.asarray(v) for k, v in data.items() if v is not None}
        with atomic_path(Path(self._filepath)) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)
