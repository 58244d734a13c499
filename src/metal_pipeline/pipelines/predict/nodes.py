"""Thin nodes over ``metal_pipeline.inference`` (model_source, predict_folder)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.images import IMAGE_EXTENSIONS, normalise_extensions
from metal_pipeline.inference.detector import AnomalyDetector
from metal_pipeline.inference.model_source import load_checkpoint, load_from_registry
from metal_pipeline.inference.overlay import DEFAULT_ALPHA, DEFAULT_COLORMAP
from metal_pipeline.inference.predict_folder import DEFAULT_IO_WORKERS, predict_images
from metal_pipeline.params.validate import unknown_section_keys
from metal_pipeline.tracking.registry import registered_model_name
from metal_pipeline.utils.device import resolve_device

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictConfig:
    """The ``predict`` parameter block (conf/base/parameters_predict.yml)."""

    input_dir: str
    output_dir: str
    model_name: str | None = None
    model_version: str | int | None = "latest"
    model_alias: str | None = None
    checkpoint: str | None = None
    threshold: float | None = None
    batch_size: int = 32
    device: str = "cpu"
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS
    gray_from_color: bool = False
    colormap: str = DEFAULT_COLORMAP
    overlay_alpha: float = DEFAULT_ALPHA
    overlays: bool = True
    io_workers: int = DEFAULT_IO_WORKERS

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PredictConfig:
        params = dict(params or {})
        problem = unknown_section_keys(params, {f.name for f in fields(cls)}, "predict",
                                       "conf/base/parameters_predict.yml")
        if problem:
            raise DataError(problem)
        for required in ("input_dir", "output_dir"):
            if not params.get(required):
                raise DataError(f"predict.{required} is not set. Fix: --params predict.{required}=<folder>.")
        text = {k: (None if params.get(k) in (None, "") else str(params[k]))
                for k in ("model_name", "model_alias", "checkpoint")}
        return cls(
            input_dir=str(params["input_dir"]),
            output_dir=str(params["output_dir"]),
            model_version=params.get("model_version", "latest"),
            threshold=params.get("threshold"),
            batch_size=params.get("batch_size", 32),
            device=str(params.get("device", "cpu")),
            extensions=normalise_extensions(params.get("extensions", IMAGE_EXTENSIONS)),
            gray_from_color=_flag(params.get("gray_from_color", False), "gray_from_color"),
            colormap=str(params.get("colormap", DEFAULT_COLORMAP)),
            overlay_alpha=float(params.get("overlay_alpha", DEFAULT_ALPHA)),
            overlays=_flag(params.get("overlays", True), "overlays"),
            io_workers=params.get("io_workers", DEFAULT_IO_WORKERS),
            **text,
        )


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", "none", "null", ""):
        return False
    raise DataError(f"predict.{name} must be true or false, got {value!r}.")


def load_predict_detector(params: dict[str, Any], class_name: str, recipe: str, configuration: str,
                          masking: str) -> AnomalyDetector:
    """The detector to score with: ``predict.checkpoint`` if set, else the registered model
    ``predict.model_name`` (default ``metal-<class>-<recipe>-<config>-<masking>``, the name training
    registers) at ``model_version`` / ``model_alias``."""
    cfg = PredictConfig.from_params(params)
    device = resolve_device(cfg.device)
    if cfg.checkpoint:
        if cfg.model_name or cfg.model_alias:
            raise DataError("Both predict.checkpoint and a registered model (predict.model_name / model_alias) are "
                            "set; choose one (set the other to null).")
        return load_checkpoint(cfg.checkpoint, device=device)
    name = cfg.model_name or registered_model_name(class_name, recipe, configuration, masking)
    return load_from_registry(name, cfg.model_version, cfg.model_alias, device=device)


def predict_folder(detector: AnomalyDetector, params: dict[str, Any]) -> tuple[dict, dict, pd.DataFrame]:
    """Score every image under ``predict.input_dir``: the heatmaps and (``predict.overlays``, on by
    default) overlays for the catalog's ``predict_heatmaps`` / ``predict_overlays`` (callables, saved
    lazily, under ``predict.output_dir``) and the ``predictions`` table, saved in that order."""
    cfg = PredictConfig.from_params(params)
    predictions = predict_images(
        detector,
        cfg.input_dir,
        cfg.output_dir,
        batch_size=cfg.batch_size,
        threshold=cfg.threshold,
        extensions=cfg.extensions,
        device=cfg.device,
        gray_from_color=cfg.gray_from_color,
        colormap=cfg.colormap,
        overlay_alpha=cfg.overlay_alpha,
        overlays=cfg.overlays,
        io_workers=cfg.io_workers,
    )
    return predictions.heatmaps, predictions.overlays, predictions.table
