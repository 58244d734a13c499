"""Kedro datasets for this project's own types (thin wrappers over plain save/load)."""

from metal_pipeline.datasets.image_set_dataset import ImageSetDataset
from metal_pipeline.datasets.npz_arrays_dataset import NpzArraysDataset
from metal_pipeline.datasets.torch_module_dataset import TorchModuleDataset

__all__ = ["ImageSetDataset", "NpzArraysDataset", "TorchModuleDataset"]
