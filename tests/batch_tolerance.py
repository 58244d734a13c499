"""Comparing anomaly maps computed in batches of different sizes (shared by every test package).

On the AMD AVX512 machines of the first sessions, torch's CPU matmul kernels gave the same bits for an
image whatever the batch size, and these comparisons were bitwise. With Intel AMX (tenth session) the
kernels depend on the batch size, by about 1e-5 of a map's range (1e-7 absolute on trained maps). So
maps compare within :data:`BATCH_SIZE_TOLERANCE` of their range: far below any difference a change of
method makes, far above that rounding. Scores that stay bitwise on both CPUs keep exact checks.

Use: ``from batch_tolerance import assert_close_across_batch_sizes`` (conftest puts ``tests/`` on
``sys.path``).
"""

from __future__ import annotations

import numpy as np

#: Largest difference allowed, as a fraction of the reference's largest magnitude.
BATCH_SIZE_TOLERANCE = 1e-4


def assert_close_across_batch_sizes(actual, reference) -> None:
    """``actual`` equals ``reference`` up to the CPU kernels' batch-size-dependent rounding."""
    reference = np.asarray(reference)
    np.testing.assert_allclose(np.asarray(actual), reference, rtol=0,
                               atol=BATCH_SIZE_TOLERANCE * float(np.abs(reference).max()))
