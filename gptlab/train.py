"""The pretraining loop: AdamW, warmup + cosine decay, clipping, accumulation, checkpoints, DDP.

The same :func:`train` runs three ways:

- in a notebook or with ``gptlab pretrain`` on one CPU, GPU (CUDA) or Apple GPU (MPS);
- under ``torchrun --nproc_per_node=N -m gptlab.cli pretrain ...`` with PyTorch
  DistributedDataParallel (gloo on CPU, NCCL on GPU). Every process draws the same *global*
  batch of windows from a shared random generator and trains on its own slice of it, so N
  processes with a global batch of B follow the run of one process with batch B;
- resumed from its last checkpoint (``resume=True``) after Ctrl-C or a kill, reaching the
  same losses as an uninterrupted run with the same seed: the model, the optimizer, the step
  and both random generators (batches and dropout) are restored.

Shapes: batches are ``(B, T)`` token ids; ``T`` is the model's ``block_size``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import Tensor

from gptlab import data as gdata
from gptlab.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gptlab.model import GPT, GPTConfig
from gptlab.tokenizers import BPETokenizer
from gptlab.utils import get_device


@dataclass
class TrainConfig:
    """Everything a pretraining run depends on (a recipe file sets these fields)."""

    # data and tokenizer
    corpus: str = "shakespeare"  # "shakespeare" or "python_docs"
    vocab_size: int = 4096  # byte-level BPE trained on the training split only
    # model
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 128
    dropout: float = 0.0
    bias: bool = True
    # optimisation
    batch_size: int = 32  # global micro-batch, in windows
    grad_accum: int = 1  # micro-batches per optimizer step
    max_steps: int = 1000
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    # bookkeeping
    eval_interval: int = 200
    eval_batches: int = 20
    checkpoint_interval: int = 200
    seed: int = 1337
    device: str | None = None  # None: CUDA, then MPS, then CPU

    # Fields that may change when a run is resumed (everything else must match).
    RESUMABLE: tuple[str, ...] = field(default=("max_steps", "eval_interval", "eval_batches",
                                                "checkpoint_interval", "device"), repr=False)

    def __post_init__(self) -> None:
        if self.corpus not in ("shakespeare", "python_docs"):
            raise ValueError(f"corpus must be 'shakespeare' or 'python_docs', not {self.corpus!r}")
        for name in ("batch_size", "grad_accum", "max_steps", "eval_interval", "eval_batches",
                     "checkpoint_interval", "block_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup_steps < 0 or self.lr <= 0 or self.min_lr < 0 or self.min_lr > self.lr:
            raise ValueError("need warmup_steps >= 0 and 0 <= min_lr <= lr, with lr > 0")

    def model_config(self) -> GPTConfig:
        return GPTConfig(vocab_size=self.vocab_size, block_size=self.block_size, n_layer=self.n_layer,
                         n_head=self.n_head, n_embd=self.n_embd, dropout=self.dropout, bias=self.bias)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "RESUMABLE"}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)} - {"RESUMABLE"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown training setting(s) {unknown}; valid ones are {sorted(known)}.")
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, **overrides: Any) -> TrainConfig:
        """Read a recipe file (YAML mapping of field names to values), then apply overrides."""
        import yaml

        text = Path(path).read_text()
        values = yaml.safe_load(text) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path} must be a YAML mapping of training settings.")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(values)


def short_run_config(**overrides: Any) -> TrainConfig:
    """Chapter 07's short run: about 90 seconds on 2 CPU cores, 1.3M parameters.

    4 layers of width 128, a context of 32 tokens, 1,200 steps of 32 windows, peak learning
    rate 5e-3 after 200 warmup steps, no dropout (chosen by the sweep in chapter 07; about
    1.57 nats per character on the held-out works). Chapter 13 compares it with the other
    models of the course.
    """
    values = dict(vocab_size=4096, n_layer=4, n_head=4, n_embd=128, block_size=32, dropout=0.0,
                  batch_size=32, max_steps=1200, lr=5e-3, min_lr=5e-4, warmup_steps=200,
                  eval_interval=100, eval_batches=16, checkpoint_interval=400)
    values.update(overrides)
    return TrainConfig(**values)


def short_run_dir() -> Path:
    """Where chapter 07 keeps its short run (``<cache>/runs/ch07-short``), for chapter 13."""
    return gdata.cache_dir() / "runs" / "ch07-short"


# -------------------------------------------------------------------------------------
# Pieces of the loop (each small enough to teach on its own in chapter 07)
# -------------------------------------------------------------------------------------


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate at optimizer step ``step`` (0-based): linear warmup, then cosine decay.

    Rises linearly from ``lr / warmup_steps`` to ``lr`` over ``warmup_steps`` steps, then
    follows half a cosine from ``lr`` down to ``min_lr`` at ``max_steps``.
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def configure_optimizer(model: GPT, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW (Loshchilov & Hutter, 2019) with weight decay on weight matrices only.

    Matrices (embeddings and linear weights, 2-D) are decayed; biases and LayerNorm gains
    (1-D) are not, since shrinking them toward zero has no regularising meaning. The tied
    embedding/output matrix appears once.
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))


def even_windows(ids: Tensor, block_size: int, n: int | None = None) -> tuple[Tensor, Tensor]:
    """Deterministic evaluation windows from a 1-D stream: ``(x, y)``, each ``(n, T)``.

    With ``n=None``, every non-overlapping window (the whole stream, once); otherwise ``n``
    windows at evenly spaced offsets, the same ones every time.
    """
    last = len(ids) - block_size - 1
    if last < 0:
        raise ValueError(f"The stream has {len(ids)} tokens, fewer than block_size + 1 = "
                         f"{block_size + 1}; use more text or a smaller block_size.")
    if n is None:
        starts = torch.arange(0, last + 1, block_size)
    else:
        starts = torch.linspace(0, last, n).long()
    x = torch.stack([ids[s : s + block_size] for s in starts.tolist()])
    y = torch.stack([ids[s + 1 : s + 1 + block_size] for s in starts.tolist()])
    return x, y


@torch.no_grad()
def evaluate(model: GPT, ids: Tensor, block_size: int, n_windows: int | None = None,
             batch_size: int = 32, device: torch.device | str = "cpu") -> float:
    """Mean next-token cross-entropy (nats per token) of ``model`` on windows of ``ids``."""
    was_training = model.training
    model.eval()
    x, y = even_windows(ids, block_size, n_windows)
    total, count = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        with _autocast(torch.device(device)):
            _, loss = model(xb, yb)
        total += loss.item() * yb.numel()
        count += yb.numel()
    model.train(was_training)
    return total / count


def _autocast(device: torch.device):
    """bf16 autocast on CUDA; plain fp32 elsewhere (CPU and MPS)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


@dataclass
class Corpus:
    """A tokenized corpus: the tokenizer and the two token streams, with their sizes."""

    tokenizer: BPETokenizer
    train_ids: Tensor  # (N_train,)
    val_ids: Tensor  # (N_val,)
    train_chars: int
    val_chars: int

    @property
    def val_chars_per_token(self) -> float:
        return self.val_chars / len(self.val_ids)

    def summary(self) -> dict[str, Any]:
        return {"train_chars": self.train_chars, "val_chars": self.val_chars,
                "train_tokens": len(self.train_ids), "val_tokens": len(self.val_ids),
                "val_chars_per_token": round(self.val_chars_per_token, 4)}


def prepare_corpus(cfg: TrainConfig, tokenizer: BPETokenizer | None = None) -> Corpus:
    """Load the corpus, train the BPE on the training split only (unless given), tokenize both."""
    if cfg.corpus == "shakespeare":
        train_text, val_text = gdata.shakespeare("train"), gdata.shakespeare("val")
    else:
        text = gdata.python_docs()
        cut = int(len(text) * 0.9)
        train_text, val_text = text[:cut], text[cut:]
    if tokenizer is None:
        tokenizer = BPETokenizer.train(train_text, cfg.vocab_size)
    elif tokenizer.vocab_size != cfg.vocab_size:
        raise CheckpointError(f"The tokenizer has {tokenizer.vocab_size} tokens but the config asks "
                              f"for {cfg.vocab_size}.")
    train_ids = torch.tensor(tokenizer.encode(train_text), dtype=torch.long)
    val_ids = torch.tensor(tokenizer.encode(val_text), dtype=torch.long)
    for name, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) <= cfg.block_size + 1:
            raise ValueError(f"The {name} split has only {len(ids)} tokens, too few for block_size "
                             f"{cfg.block_size}; use a larger corpus or a smaller block_size.")
    return Corpus(tokenizer, train_ids, val_ids, len(train_text), len(val_text))


# -------------------------------------------------------------------------------------
# Distributed helpers
# -------------------------------------------------------------------------------------


def _dist_info() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment, or (0, 1, 0)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


# -------------------------------------------------------------------------------------
# The loop
# -------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What a run produced: the model, tokenizer, loss history and summary numbers."""

    model: GPT
    tokenizer: BPETokenizer
    history: list[dict[str, float]]
    summary: dict[str, Any]


def train(cfg: TrainConfig, out_dir: str | os.PathLike | None = None, resume: bool = False,
          progress: bool = True, corpus: Corpus | None = None,
          stop_after: int | None = None,
          on_eval: Callable[[dict[str, float]], None] | None = None) -> TrainResult:
    """Pretrain a GPT as ``cfg`` says; checkpoints go to ``out_dir/checkpoint`` when given.

    ``resume=True`` continues from that checkpoint (refusing one whose settings differ).
    ``stop_after`` ends the run early after that many steps in this call (for tests and
    demonstrations of resuming). Ctrl-C saves a checkpoint before stopping.
    """
    rank, world, local_rank = _dist_info()
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} must divide evenly among {world} processes.")
    device = get_device(cfg.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    is_main = rank == 0
    ckpt_path = Path(out_dir) / "checkpoint" if out_dir is not None else None

    # State: fresh, or from the checkpoint.
    torch.manual_seed(cfg.seed)
    trainer_state = None
    history: list[dict[str, float]] = []
    step = 0
    if resume:
        if ckpt_path is None:
            raise ValueError("resume=True needs out_dir, the folder of the run to continue.")
        model, tokenizer, state, trainer_state = load_checkpoint(ckpt_path, cfg.model_config())
        saved = TrainConfig.from_dict(state["train_config"])
        diffs = [f"{k}: {getattr(saved, k)!r} -> {v!r}" for k, v in cfg.to_dict().items()
                 if k not in cfg.RESUMABLE and getattr(saved, k) != v]
        if diffs:
            raise CheckpointError("Cannot resume: the run was started with other settings ("
                                  + "; ".join(diffs) + "). Use the same recipe, or a new --out folder.")
        if trainer_state is None:
            raise CheckpointError(f"{ckpt_path} holds a finished model without optimizer state; "
                                  "it cannot be resumed.")
        step, history = state["step"], state["history"]
        corpus = corpus or prepare_corpus(cfg, tokenizer)
    else:
        corpus = corpus or prepare_corpus(cfg)
        model = GPT(cfg.model_config())
    model.to(device)
    raw_model = model
    optimizer = configure_optimizer(raw_model, cfg)
    batch_gen = torch.Generator().manual_seed(cfg.seed + 1)
    if trainer_state is not None:
        optimizer.load_state_dict(trainer_state["optimizer"])
        batch_gen.set_state(trainer_state["batch_rng"])
        torch.set_rng_state(trainer_state["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in trainer_state:
            torch.cuda.set_rng_state(trainer_state["cuda_rng"])
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[local_rank] if device.type == "cuda" else None)

    local_b = cfg.batch_size // world
    tokens_per_step = cfg.batch_size * cfg.grad_accum * cfg.block_size
    started, cpu_started = time.time(), time.process_time()
    elapsed_before = history[-1]["elapsed_s"] if history else 0.0
    cpu_before = history[-1].get("cpu_s", 0.0) if history else 0.0

    def snapshot(final: bool = False) -> None:
        if not is_main or ckpt_path is None:
            return
        trainer = None if final else {
            "optimizer": optimizer.state_dict(), "batch_rng": batch_gen.get_state(),
            "torch_rng": torch.get_rng_state(), "step": step}
        if trainer is not None and device.type == "cuda":
            trainer["cuda_rng"] = torch.cuda.get_rng_state(device)
        state = {"step": step, "train_config": cfg.to_dict(), "history": history,
                 "corpus": corpus.summary()}
        save_checkpoint(ckpt_path, raw_model, corpus.tokenizer, state, trainer)

    def run_eval() -> dict[str, float]:
        record = {
            "step": step,
            "train_loss": evaluate(raw_model, corpus.train_ids, cfg.block_size, cfg.eval_batches * 8,
                                   device=device),
            "val_loss": evaluate(raw_model, corpus.val_ids, cfg.block_size, cfg.eval_batches * 8,
                                 device=device),
            "lr": lr_at(max(step - 1, 0), cfg),
            "tokens": step * tokens_per_step,
            "elapsed_s": round(elapsed_before + time.time() - started, 2),
            # CPU time of all threads: on a busy machine, cpu_s / threads is the wall time the
            # run would have taken alone.
            "cpu_s": round(cpu_before + time.process_time() - cpu_started, 2),
        }
        record["val_loss_per_char"] = record["val_loss"] / corpus.val_chars_per_token
        return record

    bar = None
    if progress and is_main:
        from tqdm import tqdm  # plain text bars (no widgets)

        bar = tqdm(total=cfg.max_steps, initial=step, desc="pretrain", unit="step",
                   dynamic_ncols=True, mininterval=1.0)
    steps_this_call = 0
    model.train()
    try:
        while step < cfg.max_steps:
            if stop_after is not None and steps_this_call >= stop_after:
                break
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            running = 0.0
            for micro in range(cfg.grad_accum):
                x, y = gdata.random_windows(corpus.train_ids, cfg.batch_size, cfg.block_size, batch_gen)
                x = x[rank * local_b:(rank + 1) * local_b].to(device)
                y = y[rank * local_b:(rank + 1) * local_b].to(device)
                sync = world == 1 or micro == cfg.grad_accum - 1
                context = model.no_sync() if not sync else contextlib.nullcontext()
                with context, _autocast(device):
                    _, loss = model(x, y)
                    loss = loss / cfg.grad_accum
                    loss.backward()
                running += loss.item()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(raw_model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            steps_this_call += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{running:.3f}", lr=f"{lr:.2e}", refresh=False)
            if step % cfg.eval_interval == 0 or step == cfg.max_steps:
                if is_main:
                    record = run_eval()
                    history.append(record)
                    if bar is not None:
                        bar.write(f"step {step:>6}: train {record['train_loss']:.4f}  val {record['val_loss']:.4f} "
                                  f"nats/token ({record['val_loss_per_char']:.4f} nats/char)  "
                                  f"lr {record['lr']:.2e}")
                    if on_eval is not None:
                        on_eval(record)
            if step % cfg.checkpoint_interval == 0 and step < cfg.max_steps:
                snapshot()
                if world > 1:
                    dist.barrier()
    except KeyboardInterrupt:
        snapshot()
        if bar is not None:
            bar.close()
        if is_main and ckpt_path is not None:
            print(f"Interrupted at step {step}: checkpoint saved in {ckpt_path}; "
                  "continue with --resume.")
        raise
    finally:
        if bar is not None:
            bar.close()

    snapshot()  # keeps the optimizer state, so a finished run can be extended with a larger max_steps
    if world > 1:
        dist.barrier()
    summary = {"steps": step, "tokens": step * tokens_per_step, "parameters": raw_model.num_params(),
               "wall_time_s": round(elapsed_before + time.time() - started, 1),
               "cpu_time_s": round(cpu_before + time.process_time() - cpu_started, 1),
               "threads": torch.get_num_threads(),
               "device": str(device), "world_size": world, **corpus.summary()}
    if history:
        summary.update({k: history[-1][k] for k in ("train_loss", "val_loss", "val_loss_per_char")})
    if is_main and out_dir is not None:
        (Path(out_dir) / "history.json").write_text(json.dumps({"summary": summary, "history": history},
                                                                indent=2))
    return TrainResult(raw_model, corpus.tokenizer, history, summary)
