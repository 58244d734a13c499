"""The registered MLflow model: a ``python_function`` model that scores images.

``mlflow.pyfunc.load_model("models:/<name>@champion").predict(frame)`` needs no
other code than MLflow's: the model carries this package as ``code_paths``, its
pinned pip requirements, a signature and an input example, so it loads where
``metal_pipeline`` is not installed and serves with ``mlflow models serve``.

Input: a ``pandas.DataFrame`` with one column ``image``, each cell the bytes
of an image file (PNG, JPEG, BMP, TIFF; any size; RGB, gray, 16-bit, palette,
with or without alpha), e.g. ``Path(p).read_bytes()``. Over HTTP the bytes are
base64 strings (``{"dataframe_split": {"columns": ["image"], "data": [["iVBOR..."]]}}``).
Each image is decoded and brought to the model exactly as ingestion and the
``predict`` pipeline do (``data.images.resize_image``: alpha dropped, 16-bit
/257, straight LANCZOS resize to the model's size, gray copied to R, G, B for
an RGB model), so a file gets the score the evaluation gives it. A colour
image for a 1-channel model is not scored (its row has an ``error``) unless
the parameter ``gray_from_color`` is true, the rule of ``predict_folder``. A
numpy array becomes file bytes losslessly with Pillow, e.g.
``buf = io.BytesIO(); Image.fromarray(array).save(buf, "PNG")``.

Output: a ``pandas.DataFrame``, one row per input row, columns ``OUTPUT_COLUMNS``:

* ``score`` (float): the image score of ``AnomalyDetector.score``; NaN when not scored;
* ``threshold`` (float): the decision threshold used (NaN when there is none);
* ``decision`` (str): ``anomalous`` when ``score > threshold``, else ``normal``;
  empty without a threshold or when not scored;
* ``error`` (str): why the image was not scored; empty when it was;
* ``anomaly_map``: float32 2-D array, the anomaly map the score was taken
  from, at the model's resolution (``map_size="model"``, the default: 128 x 128
  for the paper's size, what the score reduces) or bilinearly resized to the
  input's height x width (``map_size="input"``, as the ``predict`` pipeline's
  TIFFs); ``None`` with ``map_size="none"`` (smaller HTTP answers) or when not scored.

Parameters (``predict(frame, params={...})``; in the HTTP body ``"params": {...}``):
``threshold`` (float, default: the stored one), ``map_size`` (``model``,
``input``, ``none``), ``gray_from_color`` (bool), ``batch_size`` (int, 32),
``device`` (``cpu``, ``cuda``, ``auto``).

The detector itself is the model's artifact ``detector``: the same detector
file as the training pipeline's ``detector.pt``
(:mod:`metal_pipeline.inference.detector_file`), read with
``torch.load(weights_only=True)``. The model's Python code (this package as
``code_paths``, ``pyfunc_entry.py``) does run when MLflow loads the model, as
for any pyfunc model: load models only from registries you trust.
"""

from __future__ import annotations

import io
import math
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

INPUT_COLUMN = "image"
OUTPUT_COLUMNS: tuple[str, ...] = ("score", "threshold", "decision", "error", "anomaly_map")
MAP_SIZES: tuple[str, ...] = ("model", "input", "none")
DETECTOR_ARTIFACT = "detector"
DEFAULT_PARAMS: dict[str, Any] = {"threshold": None, "map_size": "model", "gray_from_color": False,
                                  "batch_size": 32, "device": "cpu"}

#: Distributions the model imports when it loads and predicts, pinned to the versions installed at
#: logging time (:func:`pip_requirements`). tests/inference/test_pyfunc_model.py checks that a load and
#: predict import nothing that these (and their own dependencies) do not install.
REQUIRED_DISTRIBUTIONS: tuple[str, ...] = ("mlflow", "torch", "numpy", "pandas", "pillow", "scipy",
                                           "scikit-image", "tifffile", "tqdm")


class MetalDetectorModel(mlflow.pyfunc.PythonModel):
    """Images in, score / decision / anomaly map out (see the module docstring)."""

    def load_context(self, context) -> None:
        from metal_pipeline.inference.detector_file import load_detector

        # weights_only=True; a pickled artifact is refused unless METAL_ALLOW_PICKLE=1.
        detector = load_detector(context.artifacts[DETECTOR_ARTIFACT],
                                 source=f"The model's artifact '{DETECTOR_ARTIFACT}'")
        self.detector = detector.eval()

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return score_images(self.detector, model_input, params)


def score_images(detector, model_input, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """The model's ``predict``: score the image bytes in ``model_input[INPUT_COLUMN]``."""
    from metal_pipeline.inference.predict_folder import ANOMALOUS, NORMAL, effective_threshold
    from metal_pipeline.utils.device import resolve_device
    from metal_pipeline.scoring import resize_maps

    opts = {**DEFAULT_PARAMS, **{k: v for k, v in (params or {}).items() if v is not None}}
    unknown = sorted(set(opts) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; known: {sorted(DEFAULT_PARAMS)}")
    if opts["map_size"] not in MAP_SIZES:
        raise ValueError(f"map_size must be one of {list(MAP_SIZES)}, got {opts['map_size']!r}")
    threshold = effective_threshold(detector, opts["threshold"])
    images = _image_column(model_input)

    rows = [{"score": math.nan, "threshold": math.nan if threshold is None else float(threshold), "decision": "",
             "error": "", "anomaly_map": None} for _ in images]
    ready: list[tuple[int, np.ndarray, tuple[int, int]]] = []
    for i, data in enumerate(images):
        try:
            pixels, size = prepare_bytes(data, detector.img_size, detector.channels,
                                         gray_from_color=bool(opts["gray_from_color"]))
        except (ValueError, OSError) as exc:  # DataError is a ValueError
            rows[i]["error"] = " ".join(str(exc).split()) or type(exc).__name__
            continue
        ready.append((i, pixels, size))
    if ready:
        result = detector.score(np.stack([p for _, p, _ in ready]), batch_size=int(opts["batch_size"]),
                                device=resolve_device(opts["device"]))
        maps: list[np.ndarray | None]
        if opts["map_size"] == "input":
            maps = resize_maps(result.maps, [hw for _, _, hw in ready])
        elif opts["map_size"] == "model":
            maps = [np.array(m, dtype=np.float32) for m in result.maps]
        else:
            maps = [None] * len(ready)
        for (i, _, _), score, heat in zip(ready, result.scores, maps):
            rows[i]["score"] = float(score)
            rows[i]["anomaly_map"] = heat
            if threshold is not None:
                rows[i]["decision"] = ANOMALOUS if score > threshold else NORMAL
    return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))


def _image_column(model_input) -> list:
    if isinstance(model_input, pd.DataFrame):
        if INPUT_COLUMN not in model_input.columns:
            raise ValueError(f"the input DataFrame needs a column '{INPUT_COLUMN}' of image file bytes; "
                             f"got columns {list(model_input.columns)}")
        return list(model_input[INPUT_COLUMN])
    if isinstance(model_input, (bytes, bytearray)):
        return [model_input]
    return list(model_input)


def decode_image(data):
    """A fully decoded Pillow image from file bytes (the in-memory twin of ``data.images.read_image``)."""
    from PIL import Image, UnidentifiedImageError

    from metal_pipeline.data.errors import DataError

    if isinstance(data, str):  # base64 text that was not decoded by a schema
        import base64

        data = base64.b64decode(data, validate=True)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DataError(f"each '{INPUT_COLUMN}' cell must be the bytes of an image file, got {type(data).__name__}")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        img = Image.open(io.BytesIO(data))
        img.load()
    except UnidentifiedImageError as exc:
        raise DataError("the bytes are not an image Pillow can identify (PNG, JPEG, BMP, TIFF, ...)") from exc
    except Image.DecompressionBombError as exc:
        raise DataError(f"the image is too large for Pillow's decompression-bomb guard ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"the image cannot be decoded ({exc}): truncated or corrupt") from exc
    return img


def prepare_bytes(data, size: int, channels: int, *, gray_from_color: bool = False):
    """Image file bytes -> (uint8 ``(channels, size, size)``, the input's ``(height, width)``)."""
    from metal_pipeline.data.images import has_colour, resize_image
    from metal_pipeline.inference.prepared_image import ChannelMismatchError

    img = decode_image(data)
    with img:
        if channels == 1 and not gray_from_color and has_colour(img):
            raise ChannelMismatchError(
                f"a colour image (mode {img.mode}) for a 1-channel model was not scored: the model never saw "
                "colour. Send grayscale images, or pass the parameter gray_from_color=true if the model was "
                "trained on colour images reduced to gray.")
        return resize_image(img, size, channels), (int(img.height), int(img.width))


def model_signature():
    """Input: a column of image bytes; output: ``OUTPUT_COLUMNS``; the ``params`` with their defaults."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema
    from mlflow.types.schema import Array

    return ModelSignature(
        inputs=Schema([ColSpec(DataType.binary, INPUT_COLUMN)]),
        outputs=Schema([
            ColSpec(DataType.double, "score"),
            ColSpec(DataType.double, "threshold"),
            ColSpec(DataType.string, "decision"),
            ColSpec(DataType.string, "error"),
            ColSpec(Array(Array(DataType.float)), "anomaly_map", required=False),
        ]),
        params=ParamSchema([
            ParamSpec("threshold", DataType.double, None),
            ParamSpec("map_size", DataType.string, DEFAULT_PARAMS["map_size"]),
            ParamSpec("gray_from_color", DataType.boolean, DEFAULT_PARAMS["gray_from_color"]),
            ParamSpec("batch_size", DataType.long, DEFAULT_PARAMS["batch_size"]),
            ParamSpec("device", DataType.string, DEFAULT_PARAMS["device"]),
        ]),
    )


def input_example(channels: int = 3) -> pd.DataFrame:
    """One small synthetic PNG (48 x 40 px, the model's channels): logged with the model, and run once
    through it by MLflow at logging time."""
    from PIL import Image

    rng = np.random.default_rng(0)
    shape = (40, 48, 3) if channels == 3 else (40, 48)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(buf, format="PNG")
    # An object (not pandas 3's string) column index: MLflow compares it with a range, which pandas 3
    # warns about for string indexes.
    return pd.DataFrame({INPUT_COLUMN: [buf.getvalue()]}, columns=pd.Index([INPUT_COLUMN], dtype=object))


def pip_requirements() -> list[str]:
    """``REQUIRED_DISTRIBUTIONS`` pinned to the installed versions (pyproject.toml's pins where it has
    them); a local version label such as ``+cpu`` is dropped so the pin resolves on PyPI."""
    from importlib.metadata import version

    return [f"{name}=={version(name).split('+')[0]}" for name in REQUIRED_DISTRIBUTIONS]


def model_code_file() -> str:
    """The models-from-code file (``pyfunc_entry.py``) given to ``log_model`` as ``python_model``."""
    from pathlib import Path

    return str(Path(__file__).resolve().with_name("pyfunc_entry.py"))


def package_dir() -> str:
    """The ``metal_pipeline`` package folder, logged as the model's ``code_paths``."""
    from pathlib import Path

    import metal_pipeline

    return str(Path(metal_pipeline.__file__).resolve().parent)
