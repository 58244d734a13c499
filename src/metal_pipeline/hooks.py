"""Project hooks.

``FriendlyErrorHooks``: a user's bad data (``DataError``) is reported as the
one-paragraph message it carries, not as a wall of traceback. Other errors keep
their full traceback, because those are bugs worth reporting.
"""

from __future__ import annotations

import logging
import sys

from kedro.framework.hooks import hook_impl

from metal_pipeline.data.errors import DataError

logger = logging.getLogger(__name__)


def _find_data_error(error: BaseException | None) -> DataError | None:
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, DataError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


class FriendlyErrorHooks:
    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params, pipeline, catalog) -> None:
        data_error = _find_data_error(error)
        if data_error is None:
            return
        previous = sys.excepthook

        def excepthook(exc_type, exc, tb):
            if _find_data_error(exc) is data_error:
                print(f"\nError: {data_error}\n", file=sys.stderr)
                return
            previous(exc_type, exc, tb)

        sys.excepthook = excepthook
