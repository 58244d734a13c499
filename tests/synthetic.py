"""Small synthetic datasets for tests, built on the fly (shared by every test package).

Use through the fixtures in ``tests/conftest.py`` (``make_mvtec``, ``mvtec_rgb``,
``mvtec_gray``, ``make_labelled``, ``tiny_image_set``) or import directly:
``from synthetic import make_mvtec_category`` (conftest puts ``tests/`` on ``sys.path``).

Everything is deterministic for a given ``seed``.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from metal_pipeline.data.image_set import ImageSet

Size = tuple[int, int]  # (width, height), Pillow order


def _cycle(value, i):
    """``value`` itself when it is one str or one (w, h) size, else its ``i``-th item (cycling)."""
    if isinstance(value, str) or (isinstance(value, tuple) and len(value) == 2
                                  and all(isinstance(v, int) for v in value)):
        return value
    return value[i % len(value)]


def synthetic_picture(width: int, height: int, mode: str = "RGB", seed: int = 0, defect: bool = False) -> Image.Image:
    """A smooth gradient with noise (and a bright square when ``defect``), in any Pillow mode
    (``RGB``, ``L``, ``RGBA``, ``LA``, ``P``, ``I;16``)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = (xx / max(width - 1, 1) * 120 + yy / max(height - 1, 1) * 60 + 30).astype(np.float64)
    rgb = np.stack([base, base * 0.8 + 20, 200 - base * 0.5], axis=-1) + rng.normal(0, 6, (height, width, 3))
    if defect:
        y0, x0 = height // 3, width // 3
        rgb[y0:y0 + height // 4, x0:x0 + width // 4] = 250
    rgb8 = np.clip(rgb, 0, 255).astype(np.uint8)
    img = Image.fromarray(rgb8)
    if mode == "RGB":
        return img
    if mode == "L":
        return img.convert("L")
    if mode == "RGBA":
        alpha = Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8))
        out = img.copy()
        out.putalpha(alpha)
        return out
    if mode == "LA":
        return img.convert("LA")
    if mode == "P":
        return img.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    if mode == "I;16":
        return Image.fromarray(np.asarray(img.convert("L"), dtype=np.uint16) * 257)
    raise ValueError(f"unsupported synthetic mode {mode}")


def defect_region(width: int, height: int) -> np.ndarray:
    """The bool ``(height, width)`` region painted by ``synthetic_picture(..., defect=True)``."""
    mask = np.zeros((height, width), dtype=bool)
    y0, x0 = height // 3, width // 3
    mask[y0:y0 + height // 4, x0:x0 + width // 4] = True
    return mask


def save_image(img: Image.Image, path: Path) -> Path:
    """Save, converting modes the format cannot hold (JPEG/BMP: no alpha, palette or 16-bit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower()
    if ext in (".jpg", ".jpeg") and img.mode not in ("L", "RGB"):
        img = img.convert("L" if img.mode in ("LA", "I;16") else "RGB")
    if ext == ".bmp" and img.mode not in ("L", "RGB", "P", "1"):
        img = img.convert("L" if img.mode in ("LA", "I;16") else "RGB")
    kwargs = {"quality": 95} if ext in (".jpg", ".jpeg") else {}
    img.save(path, **kwargs)
    return path


def make_mvtec_category(
    root: str | Path,
    name: str = "widget",
    *,
    n_train: int = 6,
    n_test_good: int = 2,
    defects: Mapping[str, int] | None = None,
    mode: str | Sequence[str] = "RGB",
    ext: str | Sequence[str] = ".png",
    sizes: Size | Sequence[Size] = (48, 48),
    mask_ext: str = ".png",
    seed: int = 0,
) -> Path:
    """Write ``<root>/<name>`` in the official MVTec AD layout and return that folder.

    ``mode``, ``ext`` and ``sizes`` may be lists; they cycle over the images
    (index within each folder), which gives mixed formats and sizes. Each
    anomalous test image gets ``ground_truth/<defect>/<stem>_mask<mask_ext>``
    (0/255, same size as the image) marking ``defect_region``.
    Defaults: 6 train, 2 test/good, defects ``crack`` x2 and ``hole`` x2.
    """
    defects = {"crack": 2, "hole": 2} if defects is None else dict(defects)
    cat = Path(root) / name
    folders = [("train/good", n_train, False), ("test/good", n_test_good, False)]
    folders += [(f"test/{d}", k, True) for d, k in defects.items()]
    counter = seed
    for folder, count, anomalous in folders:
        (cat / folder).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            w, h = _cycle(sizes, i)
            counter += 1
            img = synthetic_picture(w, h, _cycle(mode, i), seed=counter, defect=anomalous)
            stem = f"{i:03d}"
            save_image(img, cat / folder / f"{stem}{_cycle(ext, i)}")
            if anomalous:
                defect = folder.split("/", 1)[1]
                mask = Image.fromarray(defect_region(w, h).astype(np.uint8) * 255)
                save_image(mask, cat / "ground_truth" / defect / f"{stem}_mask{mask_ext}")
    return cat


def make_labelled_folder(
    root: str | Path,
    name: str = "ct",
    *,
    n_normal: int = 12,
    n_anomalous: int = 6,
    header: str = "id, hemorrhage",
    pad: int = 3,
    mode: str = "RGB",
    sizes: Size | Sequence[Size] = ((40, 48), (44, 40)),
    seed: int = 0,
) -> Path:
    """Write a Head-CT-style folder: ``000.png``.. plus ``labels.csv`` (header ``header``).

    Ids ``0..n_anomalous-1`` are anomalous (1), the following ``n_normal`` are normal (0),
    as in the real Head CT data. Returns the folder.
    """
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_anomalous + n_normal):
        label = 1 if i < n_anomalous else 0
        w, h = _cycle(sizes, i)
        save_image(synthetic_picture(w, h, mode, seed=seed + i, defect=bool(label)), folder / f"{i:0{pad}d}.png")
        rows.append((i, label))
    with open(folder / "labels.csv", "w", newline="") as fh:
        fh.write(header + "\n")
        csv.writer(fh).writerows(rows)
    return folder


def make_image_set(
    n: int = 8, channels: int = 3, size: int = 32, *, anomalous: int = 0, with_masks: bool | None = None, seed: int = 0
) -> ImageSet:
    """An in-memory ``ImageSet`` (no disk): ``n - anomalous`` good then ``anomalous`` 'defect' images.

    Anomalous images carry a bright square and a matching mask; masks are present
    when ``with_masks`` (default: when ``anomalous > 0``).
    """
    with_masks = anomalous > 0 if with_masks is None else with_masks
    images = np.zeros((n, channels, size, size), dtype=np.uint8)
    masks = np.zeros((n, size, size), dtype=np.uint8)
    names, defects, labels = [], [], []
    for i in range(n):
        bad = i >= n - anomalous
        pic = synthetic_picture(size, size, "L" if channels == 1 else "RGB", seed=seed + i, defect=bad)
        arr = np.asarray(pic)
        images[i] = arr[None] if channels == 1 else arr.transpose(2, 0, 1)
        if bad:
            masks[i] = defect_region(size, size)
        defect = "defect" if bad else "good"
        names.append(f"{defect}/{i:03d}")
        defects.append(defect)
        labels.append(int(bad))
    return ImageSet(images=images, names=names, defects=defects, labels=np.array(labels),
                    masks=masks if with_masks else None)
