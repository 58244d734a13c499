"""Predict pipeline: score a folder of new images with a registered (or local) model."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
