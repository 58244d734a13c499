"""Evaluation pipeline: metrics per class and per defect type, figures, MLflow logging."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
