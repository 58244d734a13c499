"""One exception type for bad user data, so the CLI can print it as one paragraph."""


class DataError(ValueError):
    """Bad or missing input data. The message names the file or folder and the fix."""
