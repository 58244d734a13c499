"""The one place where a device setting (``auto``, ``cpu``, ``cuda``, ``cuda:1``) becomes a device."""

from __future__ import annotations


def resolve_device(device: str | None) -> str:
    """``auto`` (or empty) -> ``cuda`` when available, else ``cpu``; anything else unchanged,
    except that asking for CUDA where there is none is an error that says what to set."""
    import torch

    text = "cpu" if device in (None, "") else str(device).strip()
    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if torch.device(text).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device {text!r} was requested but CUDA is not available here; set device to "
                         "'auto' or 'cpu'.")
    return text
