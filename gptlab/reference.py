"""The reference models behind ``gptlab.pretrained()`` (chapter 07): float16 weights in
``gptlab/weights/<name>/``, written by ``tools/package_reference.py`` and checked against the
SHA-256 below before use."""

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from gptlab.data import sha256_of
from gptlab.model import GPT, GPTConfig
from gptlab.tokenizers import BPETokenizer
from gptlab.utils import tr

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: name -> SHA-256 of its model.safetensors (printed by tools/package_reference.py)
REFERENCE_MODELS: dict[str, str] = {
    "shakespeare-short": "2c8019c20e9d6784c9b2cdd4ba05fcb1fc94b14f6d0e79aaa88c9e5a6a30a606",
    "shakespeare": "e2b694c4f117e3732cdc5e1b57836ec3abd6ed6b7618b44d29975b3e50175416",
}


class PretrainedError(RuntimeError):
    """A reference model is unknown, missing or fails its checksum."""


def pretrained(
    name: str = "shakespeare", device: str | torch.device = "cpu"
) -> tuple[GPT, BPETokenizer]:
    """Load a shipped reference model (eval mode) and its tokenizer after checking its SHA-256.

    Raises :class:`PretrainedError` for an unknown name or missing or altered weights."""
    if name not in REFERENCE_MODELS:
        known = sorted(REFERENCE_MODELS)
        raise PretrainedError(tr("No reference model {!r}; available: {}.").format(name, known))
    folder = WEIGHTS_DIR / name
    weights = folder / "model.safetensors"
    if not weights.exists():
        raise PretrainedError(tr(
            "{weights} is missing. It is committed to the repository: reinstall gptlab "
            "(`pip install -e .` in the course folder) or restore the file with git."
        ).format(weights=weights))  # fmt: skip
    expected, actual = REFERENCE_MODELS[name], sha256_of(weights)
    if actual != expected:
        raise PretrainedError(tr(
            "{weights} has SHA-256 {actual}, but gptlab expects {expected}: the file is corrupt "
            "or was replaced. Restore it with `git checkout -- gptlab/weights` or reinstall gptlab."
        ).format(weights=weights, actual=actual, expected=expected))  # fmt: skip
    model = GPT(GPTConfig.from_dict(model_info(name)["model_config"]))
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    model.load_state_dict(state, strict=False)  # lm_head.weight is tied to wte.weight
    return model.to(device).eval(), BPETokenizer.load(folder / "tokenizer.json")


def model_info(name: str = "shakespeare") -> dict[str, Any]:
    """The packaged record: configs, corpus sizes, losses, training time."""
    return json.loads((WEIGHTS_DIR / name / "config.json").read_text())
