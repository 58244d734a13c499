"""Catalog one anomaly map as a float32 TIFF, written atomically.

The partition type of the catalog's ``anomaly_maps`` (a ``PartitionedDataset``
of every map file in the official MVTec AD layout) and of predict's
``predict_heatmaps``: the node hands it ``{key: map}`` (predict: ``{key:
callable}``, saved lazily) and each map is written by
:func:`metal_pipeline.scoring.export.write_anomaly_map`, the same writer as
``export_anomaly_maps`` and ``score_folder``.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import tifffile
from kedro.io import AbstractDataset, DatasetError


class TiffMapDataset(AbstractDataset[np.ndarray, np.ndarray]):
    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> np.ndarray:
        path = Path(self._filepath)
        if not path.exists():
            raise DatasetError(f"{path} does not exist yet: run the pipeline that writes it (heatmaps, or predict) first.")
        return np.asarray(tifffile.imread(path), dtype=np.float32)

    def save(self, data: np.ndarray) -> None:
        from metal_pipeline.scoring.export import write_anomaly_map  # the scoring package imports torch

        write_anomaly_map(Path(self._filepath), data)

    def _exists(self) -> bool:
        return Path(self._filepath).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
