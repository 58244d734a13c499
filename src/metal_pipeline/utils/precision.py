"""bf16 autocast shared by training (``training.amp``, ``scoring.seg_head.amp``) and scoring
(``scoring.amp``). Kept apart from :mod:`metal_pipeline.training` so that scoring and serving do
not import the training loop."""

from __future__ import annotations

import contextlib
import logging
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


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware: a GPU with bf16 support, a CPU with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        try:
            return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def amp_for_device(device: str = "auto") -> str:
    """``"bf16"`` where ``device`` (``auto``, ``cpu``, ``cuda``...) has native bf16, else ``"off"``.

    Behind ``auto`` in the ``${amp:auto, <device>}`` config resolver: a default that is fast on
    every machine (bf16 emulated on an older CPU is slower than fp32). It resolves when the
    configuration loads, so the run and scoring names hash the precision actually used.
    """
    from metal_pipeline.utils.device import resolve_device

    try:
        resolved = torch.device(resolve_device(device))
    except ValueError:  # e.g. cuda asked for where there is none: the device check reports it later
        return "off"
    return "bf16" if native_bf16(resolved) else "off"


def resolve_amp_setting(value: Any, device: str = "auto") -> Any:
    """The ``${amp:<value>, <device>}`` config resolver: ``auto`` becomes :func:`amp_for_device`'s
    answer for ``device``; any other value is returned as it is (the parameter check judges it)."""
    return amp_for_device(str(device)) if value == "auto" else value


def check_amp(amp: str, device: torch.device, name: str = "training.amp") -> None:
    """Refuse bf16 where the device cannot run it; warn where it only emulates it (slow, still correct)."""
    if amp == "off":
        return
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            raise ValueError(f"{name}=bf16: the GPU {torch.cuda.get_device_name(device)} has no bf16 "
                             f"support; set {name}=off")
    elif device.type == "cpu" and not native_bf16(device):
        log.warning("%s=bf16: this CPU has no native bf16 (AVX512-BF16 or AMX); autocast emulates "
                    "it, which is slower than fp32. Set %s=off on this machine.", name, name)


def autocast(amp: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context the network's forward pass runs in (a no-op for ``amp == "off"``)."""
    if amp == "off":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
