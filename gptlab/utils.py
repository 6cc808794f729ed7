"""Small shared helpers: seeding, device selection, eval mode. No other global state here."""

from __future__ import annotations

import contextlib
import os
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it is used, so `gptlab doctor` can report it missing
    import torch


def seed_everything(seed: int = 1337) -> torch.Generator:
    """Seed Python's, NumPy's and PyTorch's RNGs; return a ``torch.Generator`` seeded alike."""
    import numpy as np
    import torch

    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def get_device(preference: str | None = None) -> torch.device:
    """``preference`` (or the ``GPTLAB_DEVICE`` environment variable, e.g. ``cpu``) if given,
    else CUDA, then MPS, then CPU. RuntimeError if the requested CUDA or MPS is missing."""
    import torch

    choice = preference or os.environ.get("GPTLAB_DEVICE")
    if not choice:
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
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


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module):
    """Inside the block ``model`` is in eval mode (dropout off); its mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def short_path(path: str | os.PathLike) -> str:
    """``path`` as the book prints it: relative when it lies under the current folder's parent
    (the course folder), else with the home folder written ``~``; never the machine's full path."""
    full = os.path.abspath(path)
    course = os.path.dirname(os.getcwd())
    if full.startswith(course + os.sep):
        return os.path.relpath(full)
    home = os.path.expanduser("~")
    return "~" + full[len(home) :] if full.startswith(home + os.sep) else full
