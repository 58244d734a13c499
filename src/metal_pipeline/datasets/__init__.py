"""Kedro datasets for this project's own types (thin wrappers over plain save/load)."""

from metal_pipeline.datasets.class_folder_dataset import ClassFolderDataset
from metal_pipeline.datasets.detector_dataset import DetectorDataset
from metal_pipeline.datasets.image_set_dataset import ImageSetDataset
from metal_pipeline.datasets.mask_folder_dataset import MaskFolderDataset
from metal_pipeline.datasets.npz_arrays_dataset import NpzArraysDataset
from metal_pipeline.datasets.png_image_dataset import PngImageDataset
from metal_pipeline.datasets.tiff_map_dataset import TiffMapDataset

#: The former name (a pickled nn.Module); a catalog that still says it gets the detector file format.
TorchModuleDataset = DetectorDataset

__all__ = ["ClassFolderDataset", "DetectorDataset", "ImageSetDataset", "MaskFolderDataset", "NpzArraysDataset", "PngImageDataset", "TiffMapDataset", "TorchModuleDataset"]
