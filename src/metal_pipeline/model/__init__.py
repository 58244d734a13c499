"""MeTAL model in plain torch (no Kedro): token shapes, masked attention,
encoders, fusion, per-patch decoder, SSIM and the reconstruction loss.

Public API::

    from metal_pipeline.model import (MeTAL, MeTALConfig, CONFIGURATIONS,
                                      default_depth, ReconstructionLoss, ssim)

See ``docs/MODEL.md``.
"""

from .config import CONFIGURATIONS, MASKING_MODES, TEXTURE_CLASSES, MeTALConfig, default_depth
from .loss import ReconstructionLoss
from .metal import MeTAL
from .ssim import ssim

__all__ = [
    "CONFIGURATIONS",
    "MASKING_MODES",
    "TEXTURE_CLASSES",
    "MeTAL",
    "MeTALConfig",
    "ReconstructionLoss",
    "default_depth",
    "ssim",
]
