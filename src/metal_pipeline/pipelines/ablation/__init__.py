"""Ablation pipeline: the paper's Table 3, all six configurations on one class, as one table."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
