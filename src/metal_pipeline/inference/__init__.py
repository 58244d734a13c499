"""The model-bound half of scoring: running the network (``reconstruct``), the
detector that turns its output into maps, scores and decisions with
``metal_pipeline.scoring``'s array functions, its file format, registry and
folder prediction (no Kedro imports)."""

from metal_pipeline.inference.detector import AnomalyDetector

__all__ = ["AnomalyDetector"]
