"""Shared helpers: seeding (the only global state), device, checks, configs as dicts, eval mode,
messages in the learner's language."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gettext
import os
import random
from typing import TYPE_CHECKING, Any, Self

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
    available = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(device.type, True):  # MPS is the Apple GPU
        raise RuntimeError(
            f"Device {choice!r} was requested but {device.type.upper()} is not available here. "
            "Use device='cpu' (or unset GPTLAB_DEVICE) to run on the CPU."
        )
    return device


def check_int(value: Any, message: str, minimum: int = 1) -> None:
    """Raise ``ValueError(message)`` unless ``value`` is an int (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(message)


class DictConfig:
    """A config dataclass as a plain dict and back (recipes, checkpoints)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Self:
        """Build a config from :meth:`to_dict`'s output; unknown keys raise ValueError."""
        names = [f.name for f in dataclasses.fields(cls)]
        if unknown := sorted(set(values) - set(names)):
            raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid: {names}.")
        return cls(**values)


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


def tr(message: str) -> str:
    """``message`` in the language named by ``GPTLAB_LANG`` (``zh_CN``: Simplified Chinese), read
    when called; English, the message itself, when unset or without a catalog. Catalog:
    gptlab/locales/<lang>/LC_MESSAGES/gptlab.mo, compiled by ``python tools/zh.py messages``."""
    lang = os.environ.get("GPTLAB_LANG", "")
    return catalog(lang).gettext(message) if lang else message


@functools.cache
def catalog(lang: str) -> gettext.NullTranslations:
    """The messages of ``lang``; English (a ``NullTranslations``) when gptlab has none."""
    folder = os.path.join(os.path.dirname(__file__), "locales")
    return gettext.translation("gptlab", folder, [lang], fallback=True)
