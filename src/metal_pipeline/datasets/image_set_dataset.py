"""Catalog an ``ImageSet`` as one compressed ``.npz`` file, written atomically."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from metal_pipeline.data.image_set import ImageSet


class ImageSetDataset(AbstractDataset[ImageSet, ImageSet]):
    """``type: metal_pipeline.datasets.ImageSetDataset`` with ``filepath: ....npz``."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> ImageSet:
        path = Path(self._filepath)
        if not path.exists():
            raise DatasetError(
                f"{path} does not exist yet: run the ingestion pipeline for this class first "
                "(kedro run --pipelines=ingestion --params class=<class>)."
            )
        return ImageSet.load(path)

    def save(self, data: ImageSet) -> None:
        data.save(Path(self._filepath))

    def _exists(self) -> bool:
        return Path(self._filepath).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
