"""Device choice: CUDA when available, else Apple MPS, else CPU; the user can override."""

from __future__ import annotations


import torch

from plm_core.settings import settings
from plm_core.errors import PlmCoreError
from plm_core.i18n import msg

DEVICE_ENV = "PLM_DEVICE"


def available_devices() -> list[str]:
    """Device names this process can use, best first (always ends with "cpu")."""
    names = []
    if torch.cuda.is_available():
        names += [f"cuda:{i}" if i else "cuda" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    return [*names, "cpu"]


def pick_device(preference: str | None = None) -> torch.device:
    """Resolve a device.

    Args:
        preference: "auto"/None (CUDA, then MPS, then CPU; the ``PLM_DEVICE`` environment variable
            overrides auto), or an explicit name such as "cpu", "cuda", "cuda:1", "mps".

    Raises:
        PlmCoreError: an explicit device that this machine does not have.
    """
    choice = preference if preference not in (None, "", "auto") else settings().device
    if choice in (None, "", "auto"):
        return torch.device(available_devices()[0])
    try:
        device = torch.device(choice)
    except RuntimeError:
        raise PlmCoreError(msg('unknown device {choice!r}; available: {value}', choice=choice, value=', '.join(available_devices()))) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PlmCoreError(msg("device {choice!r} asked for, but CUDA is not available here; use 'cpu'", choice=choice))
    if device.type == "mps" and "mps" not in available_devices():
        raise PlmCoreError(msg("device {choice!r} asked for, but MPS is not available here; use 'cpu'", choice=choice))
    return device


def describe_device(device: torch.device) -> str:
    """A short human label, e.g. "cuda (NVIDIA H100 80GB HBM3)" or "cpu (2 threads)"."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return msg("cpu ({n} threads)", n=torch.get_num_threads())
    return str(device)
