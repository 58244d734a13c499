"""Anomaly maps as float32 TIFFs in the layout of the official MVTec AD evaluation script.

Layout: ``<out_root>/anomaly_maps/<class>/test/<defect>/<stem>.tiff``, e.g.
``data/08_reporting/anomaly_maps/bottle/test/broken_large/000.tiff`` for the
image named ``"broken_large/000"``. The official script
(``evaluate_experiment.py --anomaly_maps_dir <out_root>/anomaly_maps``) reads
``<anomaly_maps_dir>/<object>/test/<defect>/<stem>.tiff`` and expects each map
at the resolution of the ground-truth mask (use ``resize_maps`` first).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import tifffile

from metal_pipeline.utils.atomic import atomic_path

ANOMALY_MAPS_DIR = "anomaly_maps"
TIFF_SUFFIX = ".tiff"
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def image_stem(name: str) -> str:
    """File stem of an image id: ``"broken_large/000"`` -> ``"000"``; ``"good/001.png"`` -> ``"001"``."""
    last = PurePosixPath(name.replace("\\", "/")).name
    p = PurePosixPath(last)
    stem = p.stem if p.suffix.lower() in _IMAGE_SUFFIXES else last
    if not stem or stem in {".", ".."}:
        raise ValueError(f"image_stem: cannot derive a file name from {name!r}")
    return stem


def anomaly_map_key(class_name: str, defect: str, name: str) -> str:
    """``anomaly_maps/<class>/test/<defect>/<stem>``: the map file of image ``name`` below its
    output root, without the ``.tiff`` suffix (the key of the catalog's ``anomaly_maps`` dataset)."""
    for what, part in (("class_name", class_name), ("defect", defect)):
        if not part or "/" in part or "\\" in part or part in {".", ".."}:
            raise ValueError(f"anomaly_map_path: bad {what} {part!r}")
    return f"{ANOMALY_MAPS_DIR}/{class_name}/test/{defect}/{image_stem(name)}"


def anomaly_map_keys(names: Sequence[str], defects: Sequence[str], class_name: str) -> list[str]:
    """:func:`anomaly_map_key` of every image; two images that would share a file are an error."""
    if len(names) != len(defects):
        raise ValueError(f"export_anomaly_maps: {len(names)} names, {len(defects)} defects")
    keys = [anomaly_map_key(class_name, str(d), str(n)) for n, d in zip(names, defects)]
    seen: dict[str, str] = {}
    for name, key in zip(names, keys):
        if key in seen:
            raise ValueError(f"export_anomaly_maps: images {seen[key]!r} and {name!r} map to the same file "
                             f"{key}{TIFF_SUFFIX}")
        seen[key] = str(name)
    return keys


def anomaly_map_path(out_root: str | Path, class_name: str, defect: str, name: str) -> Path:
    """Where :func:`export_anomaly_maps` writes the map of image ``name``."""
    return Path(out_root) / f"{anomaly_map_key(class_name, defect, name)}{TIFF_SUFFIX}"


def write_anomaly_map(path: str | Path, anomaly_map: np.ndarray) -> None:
    """One map as a float32 TIFF, written atomically (a temporary file moved into place)."""
    if np.ndim(anomaly_map) != 2:
        raise ValueError(f"export_anomaly_maps: every map must be 2-D, got shape {np.shape(anomaly_map)}")
    data = np.ascontiguousarray(anomaly_map, dtype=np.float32)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, data)


def export_anomaly_maps(
    maps: np.ndarray | Sequence[np.ndarray],
    names: Sequence[str],
    defects: Sequence[str],
    out_root: str | Path,
    class_name: str,
) -> list[Path]:
    """Write each map as a float32 TIFF at the official MVTec AD layout, atomically.

    Each file is written to a temporary file beside the target and moved into
    place only when complete (``metal_pipeline.utils.atomic.atomic_path``).
    Existing files are overwritten; files of other images are left alone.

    Args:
        maps: ``(n, H, W)`` or ``n`` 2-D maps (any size each).
        names: image ids, e.g. ``"broken_large/000"``; the last path part
            (without an image extension) is the file stem.
        defects: defect type folder of each image (``"good"`` for normal ones).
        out_root: root folder; files go under ``<out_root>/anomaly_maps``.
        class_name: MVTec class, e.g. ``"bottle"``.

    Returns:
        The written paths, in input order.

    Raises:
        ValueError: length mismatch, a non-2-D map, or two images mapping to the same file.
    """
    if len(maps) != len(names):
        raise ValueError(f"export_anomaly_maps: {len(maps)} maps, {len(names)} names, {len(defects)} defects")
    paths = [Path(out_root) / f"{key}{TIFF_SUFFIX}" for key in anomaly_map_keys(names, defects, class_name)]
    for m in maps:
        if np.ndim(m) != 2:
            raise ValueError(f"export_anomaly_maps: every map must be 2-D, got shape {np.shape(m)}")
    for m, path in zip(maps, paths):
        write_anomaly_map(path, m)
    return paths


def read_anomaly_maps(root: str | Path, class_name: str) -> dict[str, np.ndarray]:
    """Load every map written by :func:`export_anomaly_maps` for one class.

    Args:
        root: the ``out_root`` given to :func:`export_anomaly_maps`.
        class_name: MVTec class.

    Returns:
        ``{"<defect>/<stem>": float32 map}``, sorted by key (the key equals the
        ImageSet name for names of the form ``"<defect>/<stem>"``).
    """
    base = Path(root) / ANOMALY_MAPS_DIR / class_name / "test"
    if not base.is_dir():
        raise FileNotFoundError(f"read_anomaly_maps: no folder {base}")
    out: dict[str, np.ndarray] = {}
    for path in sorted(base.glob(f"*/*{TIFF_SUFFIX}")):
        out[f"{path.parent.name}/{path.stem}"] = np.asarray(tifffile.imread(path), dtype=np.float32)
    return out
