"""From an image and its reconstruction to anomaly maps and image scores: array
functions only, no network and no Kedro (running the network is
``metal_pipeline.inference``).

maps.anomaly_maps (residual_maps: the l2 kind on numpy) -> smooth_maps(_torch) -> image_scores; resize_maps for
evaluation at original mask resolution; export_anomaly_maps / read_anomaly_maps
for the official MVTec AD TIFF layout.
"""

from metal_pipeline.scoring.export import (
    anomaly_map_path,
    export_anomaly_maps,
    image_stem,
    read_anomaly_maps,
)
from metal_pipeline.scoring.image_score import REDUCTIONS, image_scores
from metal_pipeline.scoring.residual import residual_maps
from metal_pipeline.scoring.resize import resize_maps
from metal_pipeline.scoring.smoothing import (
    DEFAULT_MODE,
    DEFAULT_SIGMA,
    DEFAULT_TRUNCATE,
    smooth_maps,
    smooth_maps_torch,
)

__all__ = [
    "DEFAULT_MODE",
    "DEFAULT_SIGMA",
    "DEFAULT_TRUNCATE",
    "REDUCTIONS",
    "anomaly_map_path",
    "export_anomaly_maps",
    "image_scores",
    "image_stem",
    "read_anomaly_maps",
    "residual_maps",
    "resize_maps",
    "smooth_maps",
    "smooth_maps_torch",
]
