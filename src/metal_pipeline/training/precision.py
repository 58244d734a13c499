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

log = logging.getLogger(__name__)

AMP_MODES = ("off", "bf16")


def amp_mode(value: Any) -> str:
    """``value`` as one of :data:`AMP_MODES`. YAML 1.1 reads an unquoted ``off`` as ``false``,
    so ``False`` means ``"off"``; anything else outside the modes is a ``ValueError``."""
    if value is False:
        return "off"
    if isinstance(value, str) and value in AMP_MODES:
        return value
    raise ValueError(f"amp must be one of {list(AMP_MODES)}, got {value!r}")


class CompileError(RuntimeError):
    """``torch.compile`` failed on this platform; training with ``compile: false`` works without it."""


def check_amp(amp: str, device: torch.device, name: str = "training.amp") -> None:
    """Refuse bf16 where the device cannot run it; warn where it only emulates it (slow, still correct)."""
    if amp == "off":
        return
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            raise ValueError(f"{name}=bf16: the GPU {torch.cuda.get_device_name(device)} has no bf16 "
                             f"support; set {name}=off")
    elif device.type == "cpu":
        try:
            native = bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            native = False
        if not native:
            log.warning("%s=bf16: this CPU has no native bf16 (AVX512-BF16 or AMX); autocast emulates "
                        "it, which is slower than fp32. Set %s=off on this machine.", name, name)


def autocast(amp: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context the network's forward pass runs in (a no-op for ``amp == "off"``)."""
    if amp == "off":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


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
