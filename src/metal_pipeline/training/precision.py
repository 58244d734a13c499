"""How the training arithmetic runs: bf16 autocast (``training.amp``) and ``torch.compile`` (``training.compile``).

Both are opt-in speed levers measured in docs/PERFORMANCE.md (issue 10).

* ``amp: bf16`` runs the network's forward pass under
  ``torch.autocast(dtype=torch.bfloat16)`` (its matrix products and
  attention in bf16, weights, gradients and Adam's state in fp32) and the
  loss in fp32 on the reconstruction cast back: the SSIM term's variances,
  ``E[x^2] - E[x]^2``, cancel badly in bf16. It changes the numbers a run
  produces, so it is part of the run's identity (run name, checkpoint
  fingerprint).
* ``compile: true`` wraps the network and the loss in ``torch.compile``
  (TorchInductor; a C++ compiler on CPU). The first epoch pays the
  compilation (about a minute on 2 busy cores, seconds with a warm cache).
  The module itself is left uncompiled, so checkpoints, the returned model
  and its ``state_dict`` are the same as without. Fused kernels reorder floating-point reductions, like a
  different thread count or device does, so it is operational (not in the
  run name, like ``device`` and ``num_threads``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import torch

# bf16 autocast lives in utils (scoring uses it too); re-exported for the training code
from metal_pipeline.utils.precision import AMP_MODES, amp_mode, autocast, check_amp  # noqa: F401

log = logging.getLogger(__name__)

class CompileError(RuntimeError):
    """``torch.compile`` failed on this platform; training with ``compile: false`` works without it."""


def maybe_compile(fn: Callable[..., Any], enabled: bool) -> Callable[..., Any]:
    """``torch.compile(fn, dynamic=False)`` (the original ``fn`` is not modified), or ``fn`` itself.

    Static shapes: one compilation per batch shape (full batches, an epoch's smaller last batch, the
    validation batches; a handful per run, cached afterwards). With torch's automatic dynamic shapes,
    the first smaller batch would recompile shape-generic kernels that then serve every batch."""
    return torch.compile(fn, dynamic=False) if enabled else fn


def compile_failure(what: str, error: Exception) -> CompileError:
    """The error to raise when the first call of a compiled ``what`` fails."""
    return CompileError(
        f"training.compile=true: torch.compile could not compile the {what} on this platform "
        f"({type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}). "
        "On CPU it needs a working C++ compiler (g++ or clang++ on PATH). Fix: set training.compile=false "
        "(same results up to floating-point rounding, only slower)."
    )


@contextlib.contextmanager
def explain_compile_failures(enabled: bool):
    """Turn torch.compile's platform failures (no C++ compiler, an inductor bug) into :class:`CompileError`
    naming the fix; errors of the model's own code pass through unchanged."""
    if not enabled:
        yield
        return
    from torch._dynamo.exc import BackendCompilerFailed, InternalTorchDynamoError

    try:
        yield
    except (BackendCompilerFailed, InternalTorchDynamoError) as error:
        raise compile_failure("network or loss", error) from error
