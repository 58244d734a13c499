"""MeTAL anomaly localisation as a Kedro project."""

import warnings as _warnings

__version__ = "0.1.0"

# Kedro 1.7 registers its own resolvers with OmegaConf 2.4's deprecated call on
# every config load: a notice about third-party internals no user can act on,
# silenced as soon as the project package is imported.
_warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)
