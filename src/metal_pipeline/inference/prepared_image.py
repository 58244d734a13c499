"""One image file brought to a trained model exactly as ingestion brings it, plus
the picture at its own size for overlays.

Channel rule (model channels vs. file):

* RGB model, grayscale file: the gray value is replicated to R, G and B, as
  ingestion does for gray images in an RGB class (``resize_image``).
* 1-channel model, colour file (modes other than grayscale whose R, G, B
  differ somewhere): an error for that file, because the model was trained on
  gray pictures and a colour part is not something it can judge. Colour-mode
  files whose channels are all equal (gray saved as RGB) are scored.
  ``gray_from_color=True`` converts colour files with ingestion's luma rule
  instead, for models trained with ``ingestion.channels=1`` on colour data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.images import has_colour, is_grayscale_mode, read_image, resize_image


class ChannelMismatchError(DataError):
    """A file whose channels cannot be given to the model (a colour image for a 1-channel model)."""


@dataclass
class PreparedImage:
    """One file ready for the model.

    Attributes:
        pixels: uint8 ``(channels, size, size)``, exactly ``load_image(path, size, channels)``.
        display: uint8 ``(height, width, 3)``, the picture at its own size (for the overlay).
        width, height: the file's size in pixels.
        replicated: a grayscale file given to an RGB model (gray copied to R, G, B).
    """

    pixels: np.ndarray
    display: np.ndarray
    width: int
    height: int
    replicated: bool = False


def _display_rgb(img: Image.Image) -> np.ndarray:
    """uint8 ``(H, W, 3)`` view of any Pillow image, with ingestion's 8-bit rules (alpha dropped,
    16-bit /257, float in [0, 1] or 0..255)."""
    mode = img.mode
    if mode in ("L", "RGB"):
        arr = np.asarray(img)
    elif mode.startswith("I"):
        arr = np.rint(np.clip(np.asarray(img).astype(np.float64), 0, 65535) / 257.0).astype(np.uint8)
    elif mode == "F":
        values = np.nan_to_num(np.asarray(img, dtype=np.float32))
        scale = 255.0 if values.size and float(values.max()) <= 1.0 else 1.0
        arr = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
    elif is_grayscale_mode(mode):
        arr = np.asarray(img.convert("L"))
    else:
        arr = np.asarray(img.convert("RGB"))
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr)


def prepare_image(path: str | Path, size: int, channels: int, *, gray_from_color: bool = False) -> PreparedImage:
    """Read one file and bring it to the model, exactly as ingestion does.

    Raises:
        DataError: unreadable or truncated file (from ``read_image``).
        ChannelMismatchError: a colour image for a 1-channel model (unless ``gray_from_color``).
    """
    path = Path(path)
    with read_image(path) as img:
        width, height = img.size
        if channels == 1 and not gray_from_color and has_colour(img):
            raise ChannelMismatchError(
                f"'{path}' is a colour image (mode {img.mode}, its red, green and blue differ) but the model takes "
                "1-channel (grayscale) images, so it was not scored: the model never saw colour and reducing the "
                "image to gray would judge a different picture. Fix: score grayscale images with this model or use "
                "a model trained on colour images; if the model was trained on colour images reduced to gray "
                "(ingestion.channels=1), pass predict.gray_from_color=true."
            )
        pixels = resize_image(img, size, channels)
        replicated = channels == 3 and is_grayscale_mode(img.mode)
        return PreparedImage(pixels, _display_rgb(img), int(width), int(height), replicated)
