"""Checkpoints: a folder with ``model.safetensors`` (tied weights once), ``tokenizer.json``,
``state.json`` (configs, step, losses) and ``trainer.pt`` (optimizer and RNG states, read with
``torch.load(weights_only=True)``). :func:`save_checkpoint` writes a temporary folder and swaps
it in with renames, so a crash leaves the old checkpoint or the new one, never a mixture."""

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
from gptlab.utils import tr

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupt or does not fit the model asked for."""


def save_checkpoint(
    path: str | os.PathLike, model: GPT, tokenizer: BPETokenizer, state: dict[str, Any],
    trainer: dict[str, Any] | None = None,
) -> Path:  # fmt: skip
    """Write a checkpoint folder at ``path`` atomically; ``state`` must be JSON-serialisable."""
    # safetensors refuses shared tensors: the tied lm_head.weight is stored once, as wte's
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    weights.pop("lm_head.weight", None)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    old = target.parent / f".{target.name}.old"
    try:
        metadata = {"format": "gptlab", "version": str(FORMAT_VERSION)}
        save_file(weights, str(tmp / "model.safetensors"), metadata=metadata)
        tokenizer.save(tmp / "tokenizer.json")
        record = {"format_version": FORMAT_VERSION, "model_config": model.config.to_dict(), **state}
        (tmp / "state.json").write_text(json.dumps(record, indent=2))
        if trainer is not None:
            torch.save(trainer, tmp / "trainer.pt")
        tmp.chmod(0o755)
        shutil.rmtree(old, ignore_errors=True)  # left over from a crash mid-swap
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_checkpoint(
    path: str | os.PathLike, config: GPTConfig | None = None, device: str | torch.device = "cpu"
) -> tuple[GPT, BPETokenizer, dict[str, Any], dict[str, Any] | None]:
    """Load ``(model, tokenizer, state, trainer)``; ``trainer`` is None when there is none.
    CheckpointError: missing, incomplete or corrupt files, or a different ``config``."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent / f".{path.name}.old"  # crash mid-swap
    if not folder.is_dir():
        raise CheckpointError(tr(
            "No checkpoint at {path}. Train one with `gptlab pretrain --out {parent}` "
            "(or check the path)."
        ).format(path=path, parent=path.parent))  # fmt: skip
    try:  # json, safetensors and torch raise their own error types for missing or broken files
        state = json.loads((folder / "state.json").read_text())
        saved = GPTConfig.from_dict(state["model_config"])
        model = GPT(saved)
        weights = load_file(str(folder / "model.safetensors"))
        weights["lm_head.weight"] = weights["wte.weight"]  # tied to wte, so stored once
        model.load_state_dict(weights)
        tokenizer = BPETokenizer.load(folder / "tokenizer.json")
        pt = folder / "trainer.pt"
        trainer = torch.load(pt, map_location="cpu", weights_only=True) if pt.exists() else None
    except Exception as exc:
        raise CheckpointError(tr(
            "The checkpoint {folder} is incomplete, or a file in it is corrupt or partial "
            "({kind}: {exc}). Delete it and train or copy it again."
        ).format(folder=folder, kind=type(exc).__name__, exc=exc)) from exc  # fmt: skip
    if config is not None and config != saved:
        each = tr("{k}: checkpoint {v!r} vs requested {w!r}")
        diffs = [
            each.format(k=k, v=v, w=getattr(config, k))
            for k, v in saved.to_dict().items()
            if getattr(config, k) != v
        ]
        raise CheckpointError(tr(
            "The checkpoint in {folder} was trained with a different model configuration "
            "({diffs}). Resume with the same configuration, or start a new run in another --out "
            "folder."
        ).format(folder=folder, diffs="; ".join(diffs)))  # fmt: skip
    return model.to(device), tokenizer, state, trainer
