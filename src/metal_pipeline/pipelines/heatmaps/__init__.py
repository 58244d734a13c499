"""Heatmaps pipeline: reconstruct every test image, residual maps, export TIFFs."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
