"""One exception type for bad user data, so the CLI can print it as one paragraph."""

from metal_pipeline.errors import MetalError


class DataError(MetalError, ValueError):
    """Bad or missing input data. The message names the file or folder and the fix."""
