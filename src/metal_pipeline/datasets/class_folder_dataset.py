"""Catalog a class's raw data folder (MVTec AD category or Head CT-style labelled folder), read-only.

``load()`` returns the folder's path, not its images: ingestion reads and
checks every file itself (``metal_pipeline.data.ingest``), so that bad data
stops it before any split is written. The dataset makes the raw data a node
input that ``kedro viz`` and the catalog show. Its path comes from the
parameters (``${run:class_folder}``: ``ingestion.class_paths[<class>]``, else
``<ingestion.data_root>/<class>``).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from metal_pipeline.data.errors import DataError


class ClassFolderDataset(AbstractDataset[None, Path]):
    # ``folder``, not ``path``: Kedro makes ``path``/``filepath`` entries absolute, and the folder stays as the
    # user gave it, so messages name files as the user knows them (relative to the project).
    def __init__(self, folder: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = PurePosixPath(folder)
        self.metadata = metadata

    def load(self) -> Path:
        folder = Path(self._path)
        if not folder.is_dir():
            raise DataError(f"The class folder '{folder}' does not exist. Fix: pass a class that has a folder under "
                            "ingestion.data_root (--params class=<name>), point ingestion.data_root at the folder "
                            "holding the categories, or set ingestion.class_paths.<class>.")
        return folder

    def save(self, data: None) -> None:
        raise DatasetError(f"{self._path} is raw data: this project never writes it.")

    def _exists(self) -> bool:
        return Path(self._path).is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
