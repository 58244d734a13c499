"""Ablation pipeline: the paper's Table 3, every configuration x seed of one class as its own run,
gathered into one table with mean ± std over seeds."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
