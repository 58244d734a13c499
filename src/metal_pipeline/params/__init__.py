"""Run parameters: validation before any work (``validate``)."""

from metal_pipeline.params.validate import SCHEMA, validate_params

__all__ = ["SCHEMA", "validate_params"]
