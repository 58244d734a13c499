"""Catalog a dict of numpy arrays as one compressed ``.npz``, written atomically."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

from metal_pipeline.utils.atomic import atomic_path


class NpzArraysDataset(AbstractDataset[dict[str, np.ndarray], dict[str, np.ndarray]]):
    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> dict[str, np.ndarray]:
        path = Path(self._filepath)
        if not path.exists():
            raise DatasetError(f"{path} does not exist yet: run the pipeline that produces it first.")
        with np.load(path, allow_pickle=False) as z:
            return {key: z[key] for key in z.files}

    def save(self, data: dict[str, np.ndarray]) -> None:
        arrays = {k: np.asarray(v) for k, v in data.items() if v is not None}
        with atomic_path(Path(self._filepath)) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)

    def _exists(self) -> bool:
        return Path(self._filepath).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
