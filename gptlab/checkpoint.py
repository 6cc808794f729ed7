"""Checkpoints: save and load a model, its tokenizer and the training state, atomically.

A checkpoint is a folder:

- ``model.safetensors``  the weights (tied weights stored once)
- ``tokenizer.json``     the :class:`gptlab.tokenizers.BPETokenizer`
- ``state.json``         model config, training config, step, loss history
- ``trainer.pt``         optimizer and random-number-generator states (read back with
                         ``torch.load(weights_only=True)``: tensors and plain values only)

:func:`save_checkpoint` writes everything into a temporary folder beside the target and
then swaps it into place with renames, so a crash or a kill at any moment leaves either
the old checkpoint or the new one, never a mixture.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from gptlab.model import GPT, GPTConfig
from gptlab.tokenizers import BPETokenizer

FORMAT_VERSION = 1
REQUIRED = ("model.safetensors", "tokenizer.json", "state.json")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupt or does not fit the model asked for."""


def _weights(model: GPT) -> dict[str, torch.Tensor]:
    """The state dict without the tied ``lm_head.weight`` (safetensors refuses shared tensors)."""
    state = model.state_dict()
    state.pop("lm_head.weight", None)
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def save_checkpoint(
    path: str | os.PathLike,
    model: GPT,
    tokenizer: BPETokenizer,
    state: dict[str, Any],
    trainer: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder at ``path`` atomically and return its path.

    ``state`` must be JSON-serialisable (step, configs, losses); ``trainer`` holds tensors
    (optimizer state, RNG states) and is optional (a finished model needs none).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        save_file(
            _weights(model),
            str(tmp / "model.safetensors"),
            metadata={"format": "gptlab", "version": str(FORMAT_VERSION)},
        )
        tokenizer.save(tmp / "tokenizer.json")
        record = {"format_version": FORMAT_VERSION, "model_config": model.config.to_dict(), **state}
        (tmp / "state.json").write_text(json.dumps(record, indent=2))
        if trainer is not None:
            torch.save(trainer, tmp / "trainer.pt")
        tmp.chmod(0o755)
        old = target.parent / f".{target.name}.old"
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _resolve(path: Path) -> Path:
    """The folder to read: ``path``, or the previous checkpoint left by a crash mid-swap."""
    if path.is_dir():
        return path
    old = path.parent / f".{path.name}.old"
    if old.is_dir():
        return old
    raise CheckpointError(
        f"No checkpoint at {path}. Train one with `gptlab pretrain --out {path.parent}` "
        "(or check the path)."
    )


def read_state(path: str | os.PathLike) -> dict[str, Any]:
    """The ``state.json`` record of a checkpoint."""
    folder = _resolve(Path(path))
    missing = [name for name in REQUIRED if not (folder / name).exists()]
    if missing:
        raise CheckpointError(
            f"The checkpoint {folder} is incomplete (missing {', '.join(missing)}). It was not "
            "written by gptlab or was copied partially; delete it and train or copy it again."
        )
    try:
        return json.loads((folder / "state.json").read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(
            f"{folder / 'state.json'} is corrupt ({exc}); delete the checkpoint."
        ) from exc


def load_checkpoint(
    path: str | os.PathLike,
    config: GPTConfig | None = None,
    device: str | torch.device = "cpu",
) -> tuple[GPT, BPETokenizer, dict[str, Any], dict[str, Any] | None]:
    """Load ``(model, tokenizer, state, trainer)`` from a checkpoint folder.

    If ``config`` is given and differs from the checkpoint's, raise :class:`CheckpointError`
    naming the fields that differ. ``trainer`` is None when the checkpoint has none.
    """
    folder = _resolve(Path(path))
    state = read_state(folder)
    saved = GPTConfig.from_dict(state["model_config"])
    if config is not None and config != saved:
        diffs = [
            f"{k}: checkpoint {v!r} vs requested {getattr(config, k)!r}"
            for k, v in saved.to_dict().items()
            if getattr(config, k) != v
        ]
        raise CheckpointError(
            f"The checkpoint in {folder} was trained with a different model configuration ("
            + "; ".join(diffs)
            + "). Resume with the same configuration, or start a new run "
            "in another --out folder."
        )
    model = GPT(saved)
    try:
        weights = load_file(str(folder / "model.safetensors"))
    except Exception as exc:  # safetensors raises its own error types for truncated files
        raise CheckpointError(
            f"{folder / 'model.safetensors'} cannot be read ({exc}); the file "
            "is corrupt or partial. Delete the checkpoint and train or copy it "
            "again."
        ) from exc
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [m for m in missing if m != "lm_head.weight"]
    if missing or unexpected:
        raise CheckpointError(
            f"{folder / 'model.safetensors'} does not match the model: missing "
            f"{missing[:5]}, unexpected {unexpected[:5]}."
        )
    tokenizer = BPETokenizer.load(folder / "tokenizer.json")
    trainer = None
    if (folder / "trainer.pt").exists():
        trainer = torch.load(folder / "trainer.pt", map_location="cpu", weights_only=True)
    return model.to(device), tokenizer, state, trainer
