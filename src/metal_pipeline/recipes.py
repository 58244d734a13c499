"""Named recipes: a complete set of choices (masking, map, training protocol)
selected with one parameter, ``recipe``.

``paper`` reproduces De Nardin et al. (2022) as faithfully as the paper allows;
``default`` is this project's best measured recipe (docs/RESULTS.md says how it
was chosen). Any parameter given explicitly on the command line overrides what
the recipe sets.
"""

from __future__ import annotations

RECIPE_NAMES = ("default", "paper")
