"""Training pipeline: fit MeTAL, calibrate the decision threshold, register the model in MLflow."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
