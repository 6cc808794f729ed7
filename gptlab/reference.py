"""The reference models that ship with gptlab, behind ``gptlab.pretrained()``.

``pretrained("shakespeare")`` returns ``(model, tokenizer)``: a GPT pretrained by ``gptlab
pretrain --config configs/shakespeare.yaml`` (chapter 07; its card: :func:`model_card`). The
float16 weights live in ``gptlab/weights/<name>/`` and are checked against the SHA-256 below
before use. ``tools/package_reference.py`` writes that folder from a checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from gptlab.data import sha256_of
from gptlab.model import GPT, GPTConfig
from gptlab.tokenizers import BPETokenizer

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: name -> SHA-256 of its model.safetensors (printed by tools/package_reference.py)
REFERENCE_MODELS: dict[str, str] = {
    "shakespeare": "e2b694c4f117e3732cdc5e1b57836ec3abd6ed6b7618b44d29975b3e50175416",
}


class PretrainedError(RuntimeError):
    """A reference model is unknown, missing or fails its checksum."""


def pretrained(
    name: str = "shakespeare", device: str | torch.device = "cpu"
) -> tuple[GPT, BPETokenizer]:
    """Load a shipped reference model and its tokenizer, in eval mode, after checking its hash.

    Raises:
        PretrainedError: unknown name, missing weights, or weights that fail the checksum.
    """
    if name not in REFERENCE_MODELS:
        raise PretrainedError(
            f"No reference model {name!r}; available: {sorted(REFERENCE_MODELS)}."
        )
    folder = WEIGHTS_DIR / name
    weights = folder / "model.safetensors"
    if not weights.exists():
        raise PretrainedError(
            f"{weights} is missing. It is committed to the repository: reinstall gptlab "
            "(`pip install -e .` in the course folder) or restore the file with git."
        )
    expected, actual = REFERENCE_MODELS[name], sha256_of(weights)
    if actual != expected:
        raise PretrainedError(
            f"{weights} has SHA-256 {actual}, but gptlab expects {expected}: the file is corrupt "
            "or was replaced. Restore it with `git checkout -- gptlab/weights` or reinstall gptlab."
        )
    model = GPT(GPTConfig.from_dict(model_info(name)["model_config"]))
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    model.load_state_dict(state, strict=False)  # lm_head.weight is tied to wte.weight
    tokenizer = BPETokenizer.load(folder / "tokenizer.json")
    return model.to(device).eval(), tokenizer


def model_card(name: str = "shakespeare") -> str:
    """The text of a reference model's card (data, training, losses, samples, limits)."""
    return (WEIGHTS_DIR / name / "MODEL_CARD.md").read_text()


def model_info(name: str = "shakespeare") -> dict[str, Any]:
    """The packaged record: configs, corpus sizes, losses, training time."""
    return json.loads((WEIGHTS_DIR / name / "config.json").read_text())
