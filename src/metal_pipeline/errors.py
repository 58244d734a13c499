"""The project's user-facing error base.

Every error a *user* can cause (bad parameter, bad data, a checkpoint or split
that belongs to another run) derives from :class:`MetalError`. Its message is
one paragraph naming the parameter or file and the fix; the friendly-error hook
(:mod:`metal_pipeline.hooks`) prints exactly that paragraph, without a
traceback (set ``METAL_VERBOSE=1`` to see the traceback as well). Anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations


class MetalError(Exception):
    """A problem the user can fix; the message says how."""


class ParameterError(MetalError, ValueError):
    """A run parameter has a bad value or an unknown name."""


class SplitMismatchError(MetalError):
    """A model, checkpoint or score file belongs to a different data split than the one loaded."""


class OutputWriteError(MetalError, OSError):
    """An output cannot be written: no permission, a read-only file system, a full disk.

    Also an ``OSError`` (with the ``errno`` of the failure), so code that handles
    failed writes keeps working; its message names the final path, never a
    temporary file.
    """


class TrackingUnavailableError(MetalError):
    """The MLflow tracking or registry server that a pipeline needs does not answer."""
