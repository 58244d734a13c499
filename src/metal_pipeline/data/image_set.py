"""``ImageSet``: the one in-memory form of a split (train, validation or test).

Every stage after ingestion (training, heatmaps, evaluation, inference) speaks
this type, so the data contract lives in one place. Images are stored already
resized to the model resolution as uint8, which keeps a split of MVTec AD small
enough to cache between pipeline runs and makes ingestion and inference use the
exact same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from metal_pipeline.utils.atomic import atomic_path


@dataclass
class ImageSet:
    """A batch of same-size images with their names, labels and (optional) masks.

    Attributes:
        images: uint8 array ``(n, C, H, W)``, C in {1, 3}.
        names: image id unique within the split, e.g. ``"broken_large/000"``.
        defects: ``"good"`` or the defect type (MVTec folder name, ``"hemorrhage"``).
        labels: int array ``(n,)``, 0 normal, 1 anomalous.
        masks: uint8 array ``(n, H, W)`` with values in {0, 1} at model
            resolution, or ``None`` when the dataset has no pixel labels
            (Head CT, train splits).
        source_paths: path of each source image, as read.
        mask_paths: path of each ground-truth mask ("" where none: good images).
        original_sizes: int array ``(n, 2)`` of the source (height, width).
    """

    images: np.ndarray
    names: list[str]
    defects: list[str]
    labels: np.ndarray
    masks: np.ndarray | None = None
    source_paths: list[str] = field(default_factory=list)
    mask_paths: list[str] = field(default_factory=list)
    original_sizes: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (n, C, H, W), got {self.images.dtype} {self.images.shape}")
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if not self.source_paths:
            self.source_paths = [""] * n
        if not self.mask_paths:
            self.mask_paths = [""] * n
        if self.original_sizes is None:
            self.original_sizes = np.tile(np.array(self.images.shape[2:], dtype=np.int64), (n, 1))
        self.original_sizes = np.asarray(self.original_sizes, dtype=np.int64).reshape(n, 2)
        for what, seq in (("names", self.names), ("defects", self.defects), ("labels", self.labels),
                          ("source_paths", self.source_paths), ("mask_paths", self.mask_paths)):
            if len(seq) != n:
                raise ValueError(f"ImageSet: {what} has {len(seq)} entries for {n} images")
        if self.masks is not None:
            if self.masks.shape != (n, *self.images.shape[2:]):
                raise ValueError(f"masks shape {self.masks.shape} does not match images {self.images.shape}")
            self.masks = self.masks.astype(np.uint8, copy=False)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])

    def subset(self, index: np.ndarray | list[int]) -> ImageSet:
        """A new ImageSet holding the given rows (order kept)."""
        idx = np.asarray(index, dtype=np.int64)
        return ImageSet(
            images=self.images[idx],
            names=[self.names[i] for i in idx],
            defects=[self.defects[i] for i in idx],
            labels=self.labels[idx],
            masks=None if self.masks is None else self.masks[idx],
            source_paths=[self.source_paths[i] for i in idx],
            mask_paths=[self.mask_paths[i] for i in idx],
            original_sizes=self.original_sizes[idx],
        )

    def as_float(self) -> np.ndarray:
        """Images scaled to [0, 1] as float32, the model's input convention."""
        return self.images.astype(np.float32) / 255.0

    # -- persistence -----------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write as a compressed ``.npz`` atomically."""
        arrays = {
            "images": self.images,
            "names": np.array(self.names, dtype=np.str_),
            "defects": np.array(self.defects, dtype=np.str_),
            "labels": self.labels,
            "source_paths": np.array(self.source_paths, dtype=np.str_),
            "mask_paths": np.array(self.mask_paths, dtype=np.str_),
            "original_sizes": self.original_sizes,
        }
        if self.masks is not None:
            arrays["masks"] = self.masks
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> ImageSet:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                images=z["images"],
                names=[str(s) for s in z["names"]],
                defects=[str(s) for s in z["defects"]],
                labels=z["labels"],
                masks=z["masks"] if "masks" in z.files else None,
                source_paths=[str(s) for s in z["source_paths"]],
                mask_paths=[str(s) for s in z["mask_paths"]],
                original_sizes=z["original_sizes"],
            )
