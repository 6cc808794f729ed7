"""Small shared helpers: seeding and device selection. No other global state lives here."""

from __future__ import annotations

import os
import random

import torch


def seed_everything(seed: int = 1337) -> torch.Generator:
    """Seed Python's, NumPy's (if installed) and PyTorch's random number generators.

    Returns a ``torch.Generator`` seeded with the same value, for code that prefers an
    explicit generator over the global one.
    """
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import numpy as np

        np.random.seed(seed % (2**32))
    except ImportError:  # pragma: no cover - numpy is a dependency, but stay robust
        pass
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def get_device(preference: str | None = None) -> torch.device:
    """Pick the device to run on: ``preference`` if given, else CUDA, then MPS, then CPU.

    ``preference`` may also come from the ``GPTLAB_DEVICE`` environment variable
    (for example ``GPTLAB_DEVICE=cpu`` to force the CPU on a GPU machine).
    """
    choice = preference or os.environ.get("GPTLAB_DEVICE")
    if choice:
        device = torch.device(choice)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"Device {choice!r} was requested but CUDA is not available here. "
                "Use device='cpu' (or unset GPTLAB_DEVICE) to run on the CPU."
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(
                f"Device {choice!r} was requested but MPS (Apple GPU) is not available here. "
                "Use device='cpu' (or unset GPTLAB_DEVICE)."
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
