"""Catalog an ``ImageSet`` as one compressed ``.npz`` file, written atomically."""

from __future__ import annotations

from pathlib import Path

from metal_pipeline.data.image_set import ImageSet
from metal_pipeline.datasets.single_file_dataset import SingleFileDataset


class ImageSetDataset(SingleFileDataset):
    """``type: metal_pipeline.datasets.ImageSetDataset`` with ``filepath: ....npz``."""

    written_by = "the ingestion pipeline for this class (kedro run --pipelines=ingestion --params class=<class>)"

    def load(self) -> ImageSet:
        return ImageSet.load(self._existing_path())

    def save(self, data: ImageSet) -> None:
        data.save(Path(self._filepath))
