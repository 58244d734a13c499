"""Catalog one anomaly map as a float32 TIFF, written atomically.

The partition type of the catalog's ``anomaly_maps`` (a ``PartitionedDataset``
of every map file in the official MVTec AD layout) and of predict's
``predict_heatmaps``: the node hands it ``{key: map}`` (predict: ``{key:
callable}``, saved lazily) and each map is written by
:func:`metal_pipeline.scoring.export.write_anomaly_map`, the same writer as
``export_anomaly_maps`` and ``score_folder``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from metal_pipeline.datasets.single_file_dataset import SingleFileDataset


class TiffMapDataset(SingleFileDataset):
    written_by = "the pipeline that writes it (heatmaps, or predict)"

    def load(self) -> np.ndarray:
        return np.asarray(tifffile.imread(self._existing_path()), dtype=np.float32)

    def save(self, data: np.ndarray) -> None:
        from metal_pipeline.scoring.export import write_anomaly_map  # the scoring package imports torch

        write_anomaly_map(Path(self._filepath), data)
