"""Catalog one RGB picture as a PNG, written atomically.

The partition type of the catalog's ``predict_overlays`` (a ``PartitionedDataset``
of predict's heatmap overlays): the predict node hands it ``{key: callable}``
and each picture is written by
:func:`metal_pipeline.inference.prediction_outputs.write_overlay`, the writer
``score_folder`` uses outside Kedro.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError
from PIL import Image


class PngImageDataset(AbstractDataset[np.ndarray, np.ndarray]):
    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> np.ndarray:
        path = Path(self._filepath)
        if not path.exists():
            raise DatasetError(f"{path} does not exist yet: run the pipeline that writes it (predict) first.")
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))

    def save(self, data: np.ndarray) -> None:
        from metal_pipeline.inference.prediction_outputs import write_overlay  # the inference package imports torch

        write_overlay(Path(self._filepath), data)

    def _exists(self) -> bool:
        return Path(self._filepath).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
