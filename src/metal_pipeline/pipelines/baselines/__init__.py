"""Baselines pipeline: the Table 4-style comparison of MeTAL's recipes and the autoencoder baselines of
Bergmann et al. 2019, every method x seed of one class as its own run, gathered into one table."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
