"""Catalog one RGB picture as a PNG, written atomically.

The partition type of the catalog's ``predict_overlays`` (a ``PartitionedDataset``
of predict's heatmap overlays): the predict node hands it ``{key: callable}``
and each picture is written by
:func:`metal_pipeline.inference.prediction_outputs.write_overlay`, the writer
``score_folder`` uses outside Kedro.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from metal_pipeline.datasets.single_file_dataset import SingleFileDataset


class PngImageDataset(SingleFileDataset):
    written_by = "the pipeline that writes it (predict)"

    def load(self) -> np.ndarray:
        with Image.open(self._existing_path()) as image:
            return np.asarray(image.convert("RGB"))

    def save(self, data: np.ndarray) -> None:
        from metal_pipeline.inference.prediction_outputs import write_overlay  # the inference package imports torch

        write_overlay(Path(self._filepath), data)
