"""Reading one image or mask file and bringing it to model resolution.

``resize_image`` is the single place where source pixels become model pixels:
ingestion and inference both call it (inference through ``load_image``), so a
file scored later gets exactly the pixels the model was trained and evaluated
on. Change it and every cached ``ImageSet`` must be rebuilt.

Rules (documented in docs/DATA.md):

* Colour handling: palette and alpha images lose their alpha (``P``/``PA``/
  ``RGBA`` -> ``RGB``, ``LA`` -> ``L``); 16-bit and 32-bit integer grayscale is
  scaled to 8 bit by ``/257`` (full 16-bit range -> 0..255); float images are
  taken as [0, 1] if their maximum is <= 1, else as 0..255, and clipped.
* Channels: 1 -> ``L`` (ITU-R 601-2 luma for colour sources), 3 -> ``RGB``
  (gray sources replicated).
* Geometry: resized straight to ``size x size`` (aspect ratio not kept) with
  Pillow's antialiased LANCZOS filter, after the channel conversion.
* Masks: binarised at source resolution (``> 0`` when the mask's maximum is 1,
  else ``> 127``; colour masks use their brightest channel), resized with the
  same pixel-centre geometry (antialiased bilinear on the 0/1 float mask) and
  thresholded at 0.5, so they stay strictly {0, 1}.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from metal_pipeline.data.errors import DataError

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
"""Default file extensions read as images (compared case-insensitively)."""

GRAYSCALE_MODES: frozenset[str] = frozenset(
    {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
)
"""Pillow modes that count as grayscale for the ``channels: auto`` rule."""

_RESAMPLE = Image.Resampling.LANCZOS
_MASK_RESAMPLE = Image.Resampling.BILINEAR


def is_grayscale_mode(mode: str) -> bool:
    """True for Pillow modes holding one intensity channel (alpha aside)."""
    return mode in GRAYSCALE_MODES


def _fix_hint(path: Path) -> str:
    return (
        f"Fix: re-export or replace '{path}', or delete it if it does not belong to the dataset "
        "(files are read with Pillow; check it opens in an image viewer)."
    )


def _permission_error(path: Path, exc: PermissionError) -> DataError:
    """A file this user may not read: a permission problem, not a bad image."""
    return DataError(f"Cannot read image file '{path}': permission denied (this user may not read it, or may not "
                     f"enter its folder). The file itself was not checked. Fix: make it readable for this user "
                     f"(e.g. chmod a+r '{path}', and a+x on its folders), or move it out of the folder.")


def read_image(path: str | Path) -> Image.Image:
    """Open, verify and fully decode one image file with Pillow.

    Truncated or corrupt files raise :class:`DataError` naming the file instead of
    Pillow's own exceptions (``Image.verify`` catches bad PNG checksums, the full
    ``load`` catches truncation in every format). A file this user may not read is
    reported as a permission problem, not as a bad image.
    """
    path = Path(path)
    try:
        with Image.open(path) as probe:
            probe.verify()
        img = Image.open(path)
        try:
            img.load()
        except BaseException:
            img.close()
            raise
    except FileNotFoundError as exc:
        raise DataError(f"Image file '{path}' does not exist. {_fix_hint(path)}") from exc
    except PermissionError as exc:
        raise _permission_error(path, exc) from exc
    except UnidentifiedImageError as exc:
        raise DataError(f"'{path}' is not an image Pillow can identify (wrong extension or corrupt file). "
                        f"{_fix_hint(path)}") from exc
    except Image.DecompressionBombError as exc:
        raise DataError(f"Image file '{path}' is too large for Pillow's decompression-bomb guard ({exc}). "
                        "Fix: downscale the file before ingestion.") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # truncated data, bad CRC, decoder errors
        raise DataError(f"Image file '{path}' cannot be read ({exc}): it is truncated, corrupt or "
                        f"not readable by this user. "
                        f"{_fix_hint(path)}") from exc
    return img


def has_colour(img: Image.Image) -> bool:
    """True when the picture has a pixel whose red, green and blue differ (alpha ignored).

    Many gray sources (CT slices, gray scans) are stored as RGB with three equal
    channels; they hold one channel of information.
    """
    if is_grayscale_mode(img.mode):
        return False
    rgb = np.asarray(img.convert("RGB"))
    return not (np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 1], rgb[:, :, 2]))


def image_mode(path: str | Path) -> str:
    """Pillow mode of a file from its header only (cheap; no pixel decoding)."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            return img.mode
    except PermissionError as exc:
        raise _permission_error(path, exc) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"'{path}' is not an image Pillow can identify: {exc}. {_fix_hint(path)}") from exc


def _array_to_pil(arr: np.ndarray) -> Image.Image:
    """Pillow image from an ``(H, W)`` or ``(H, W, C)`` array (C in 1, 3, 4)."""
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ValueError(f"resize_image expects an (H, W) or (H, W, C) array with C in 1, 3, 4; got {arr.shape}")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif np.issubdtype(arr.dtype, np.floating):
        scale = 255.0 if arr.size and float(np.nanmax(arr)) <= 1.0 else 1.0
        arr = np.clip(np.rint(np.nan_to_num(arr) * scale), 0, 255).astype(np.uint8)
    elif arr.dtype != np.uint8:
        arr = _wide_int_to_uint8(arr)
    return Image.fromarray(np.ascontiguousarray(arr))  # uint8 (H, W) -> L, (H, W, 3) -> RGB


def _wide_int_to_uint8(arr: np.ndarray) -> np.ndarray:
    """16-bit (or wider integer holding 16-bit data) -> uint8 by ``/257``, rounded."""
    wide = np.clip(arr.astype(np.float64), 0, 65535)
    return np.rint(wide / 257.0).astype(np.uint8)


def _to_8bit(img: Image.Image) -> Image.Image:
    """An ``L`` or ``RGB`` Pillow image holding the same picture, alpha dropped."""
    mode = img.mode
    if mode in ("L", "RGB"):
        return img
    if mode in ("1", "LA", "La"):
        return img.convert("L")
    if mode in ("P", "PA"):
        return img.convert("RGBA").convert("RGB")
    if mode.startswith("I"):
        return Image.fromarray(_wide_int_to_uint8(np.asarray(img)))
    if mode == "F":
        return _array_to_pil(np.asarray(img, dtype=np.float32))
    return img.convert("RGB")  # RGBA, RGBa, RGBX, CMYK, YCbCr, LAB, HSV


def resize_image(image: Image.Image | np.ndarray, size: int, channels: int) -> np.ndarray:
    """The project's one image preprocessing step: -> uint8 ``(channels, size, size)``.

    Args:
        image: a Pillow image (any mode) or an ``(H, W)`` / ``(H, W, C)`` array
            (uint8, uint16, bool or float; C in 1, 3, 4 -- alpha dropped).
        size: output height and width in pixels.
        channels: 1 (grayscale) or 3 (RGB).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    img = image if isinstance(image, Image.Image) else _array_to_pil(image)
    img = _to_8bit(img)
    target = "L" if channels == 1 else "RGB"
    if img.mode != target:
        img = img.convert(target)
    if img.size != (size, size):
        img = img.resize((int(size), int(size)), resample=_RESAMPLE)
    arr = np.asarray(img, dtype=np.uint8)
    if channels == 1:
        return np.ascontiguousarray(arr[None, :, :])
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def binarize_mask(mask: Image.Image | np.ndarray) -> np.ndarray:
    """Source-resolution mask -> bool ``(H, W)``.

    ``> 0`` when the mask's maximum is at most 1 (0/1 masks), else ``> 127``
    (0/255 masks, JPEG noise ignored); 16-bit masks use half their range.
    Colour masks use the brightest colour channel (alpha ignored).
    """
    if isinstance(mask, Image.Image):
        if mask.mode in ("P", "PA"):
            mask = mask.convert("RGB")
        arr = np.asarray(mask)
        if mask.mode in ("LA", "La"):
            arr = arr[:, :, 0]
    else:
        arr = np.asarray(mask)
    if arr.ndim == 3:
        arr = arr[:, :, :3].max(axis=2) if arr.shape[2] >= 3 else arr[:, :, 0]
    if arr.ndim != 2:
        raise ValueError(f"mask must be 2-D (or H x W x C), got shape {arr.shape}")
    if arr.dtype == np.bool_:
        return arr.copy()
    if np.issubdtype(arr.dtype, np.floating):
        return arr > 0.5
    peak = int(arr.max()) if arr.size else 0
    if peak <= 1:
        return arr > 0
    if peak <= 255:
        return arr > 127
    return arr > 32767


def resize_mask(mask: Image.Image | np.ndarray, size: int) -> np.ndarray:
    """Binary mask at model resolution: uint8 ``(size, size)`` with values in {0, 1}."""
    binary = binarize_mask(mask)
    if binary.shape == (size, size):
        return binary.astype(np.uint8)
    as_float = Image.fromarray(binary.astype(np.float32))  # mode F
    resized = np.asarray(as_float.resize((int(size), int(size)), resample=_MASK_RESAMPLE))
    return (resized >= 0.5).astype(np.uint8)


def load_image(path: str | Path, size: int, channels: int) -> np.ndarray:
    """Read a file and preprocess it exactly as ingestion does: uint8 ``(channels, size, size)``."""
    with read_image(path) as img:
        return resize_image(img, size, channels)


def normalise_extensions(extensions: Iterable[str]) -> tuple[str, ...]:
    """``["PNG", ".jpg"]`` -> ``(".png", ".jpg")``; a bare string or an empty list is an error."""
    if isinstance(extensions, str) or not extensions:
        raise DataError(f"extensions must be a non-empty list such as [.png, .jpg], got {extensions!r}.")
    return tuple(dict.fromkeys("." + str(e).strip().lower().lstrip(".") for e in extensions))


def is_image_name(name: str, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> bool:
    """The one rule for which files are images: not hidden (``.*``, e.g. macOS ``._x.png``) and with one of
    ``extensions`` (as :func:`normalise_extensions` gives them), in any case."""
    return not name.startswith(".") and Path(name).suffix.lower() in extensions
