"""Import kedro-mlflow without MLflow's notice about kedro-mlflow's own model class.

kedro-mlflow 2.0.3 defines ``KedroPipelineModel``, an MLflow ``PythonModel``
whose ``predict`` has no type hints, and MLflow 3.17 prints "Add type hints to
the `predict` method ..." when such a class is *defined*: on import, so in
every ``kedro`` command of this project (settings.py imports kedro-mlflow's
hook). The notice concerns a class this project never logs, so a user cannot
act on it. MLflow raises it inside its own ``warnings.catch_warnings()`` with
``simplefilter("once")``, which overrides any warnings filter (settings.py,
``PYTHONWARNINGS``), so it is dropped where warnings are shown instead, for
that one message and only while kedro-mlflow is imported. This project's own
pyfunc model (inference/pyfunc_model.py) has type hints and prints nothing.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

TYPE_HINT_NOTICE = "Add type hints to the `predict` method"


@contextlib.contextmanager
def without_type_hint_notice() -> Iterator[None]:
    """Every warning raised inside is shown as usual, except MLflow's type-hint notice."""
    with warnings.catch_warnings():
        show = warnings.showwarning

        def show_others(message, category, filename, lineno, file=None, line=None):
            if TYPE_HINT_NOTICE not in str(message):
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = show_others
        yield
