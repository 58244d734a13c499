"""Turning a trained model into anomaly maps, scores and decisions (no Kedro imports)."""

from metal_pipeline.inference.detector import AnomalyDetector

__all__ = ["AnomalyDetector"]
