"""The training loop of chapter 07, and what wraps it for pretraining.

:func:`train_loop` is the loop the learner writes in chapter 07, kept here: draw a batch,
compute the loss, ``backward()``, clip, step, follow the schedule, evaluate now and then,
keep a sample now and then. It knows nothing about GPTs: chapters 07 (pretraining),
09 (classification), 10 (instruction tuning), 11 (LoRA) and the ablation ladder give it
their own ``get_batch`` and ``loss_fn``. It is the only place in gptlab that calls
``backward()``.

One optimizer builder (:func:`configure_optimizer`: AdamW, betas :data:`BETAS`, decay on
matrices only) and one schedule (:func:`lr_schedule`: linear warmup, then cosine decay)
serve every chapter.

:func:`train` wraps the loop for pretraining (``gptlab pretrain``): the corpus, a
:class:`TrainConfig`, progress bars, atomic checkpoints and resume (:mod:`gptlab.checkpoint`),
and DistributedDataParallel under ``torchrun`` (gloo on CPU, NCCL on GPU). Every process
draws the same *global* batch of windows from a shared generator and trains on its own
slice, so N processes with a global batch of B follow the run of one process with batch B.
A run resumed from its checkpoint reaches the same losses as one never interrupted.

Shapes: batches are ``(B, T)`` token ids; ``T`` is the model's ``block_size``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from gptlab import data as gdata
from gptlab.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gptlab.model import GPT, GPTConfig
from gptlab.tokenizers import BPETokenizer
from gptlab.utils import get_device

#: AdamW's (beta1, beta2) in every chapter: GPT-3's values (Brown et al., 2020), also nanoGPT's.
BETAS = (0.9, 0.95)


# -------------------------------------------------------------------------------------
# The three pieces every training run shares: optimizer, schedule, loop
# -------------------------------------------------------------------------------------


def check_lr(lr: Any, name: str = "lr") -> float:
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"{name} must be a positive number (for example 3e-4), got {lr!r}.")
    return float(lr)


def configure_optimizer(
    model: nn.Module, lr: float, weight_decay: float = 0.1, betas: tuple[float, float] = BETAS
) -> torch.optim.AdamW:
    """AdamW (Loshchilov & Hutter, 2019) over the *trainable* parameters of ``model``.

    Matrices (embeddings and linear weights, 2-D or more) are decayed; biases and LayerNorm
    gains (1-D) are not, since pulling them toward zero has no regularising meaning. A tied
    matrix appears once. Betas default to :data:`BETAS` in every chapter (the reference
    model's recipe sets ``beta2 = 0.99`` explicitly). Chapter 07 explains the choices.

    Raises:
        ValueError: ``lr`` is not a positive number, or nothing in ``model`` is trainable.
    """
    lr = check_lr(lr)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(
            "The model has no trainable parameters (all have requires_grad=False); "
            "unfreeze some before building the optimizer."
        )
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas))


def count_trainable(model: nn.Module) -> int:
    """Number of parameters with ``requires_grad`` (a tied matrix counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def lr_schedule(step: int, lr: float, warmup: int, total: int, min_lr: float = 0.0) -> float:
    """Learning rate at optimizer step ``step`` (0-based): linear warmup, then cosine decay.

    Rises linearly from ``lr / warmup`` to ``lr`` over ``warmup`` steps, then follows half a
    cosine from ``lr`` down to ``min_lr`` at step ``total`` (and stays there). Chapter 07
    plots it. (Hugging Face's warmup starts at 0 instead of ``lr / warmup``: the same idea,
    one step earlier.)
    """
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


def train_loop(
    model: nn.Module,
    get_batch: Callable[[], Any],
    loss_fn: Callable[[nn.Module, Any], Tensor],
    optimizer: torch.optim.Optimizer,
    schedule: Callable[[int], float],
    steps: int,
    *,
    grad_clip: float = 1.0,
    grad_accum: int = 1,
    eval_fn: Callable[[nn.Module], dict] | None = None,
    eval_every: int = 0,
    sample_fn: Callable[[nn.Module], str] | None = None,
    sample_at: Iterable[int] = (),
    start_step: int = 0,
    on_step: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train ``model`` for optimizer steps ``start_step .. steps - 1``; return one record a step.

    Each step sets the learning rate ``schedule(step)``, then ``grad_accum`` times draws
    ``batch = get_batch()`` and back-propagates ``loss_fn(model, batch) / grad_accum``, clips
    the gradient norm to ``grad_clip`` (0: no clipping) and takes an optimizer step. Every
    ``eval_every`` steps and after the last, ``eval_fn(model)``'s dict joins the record; at
    the steps in ``sample_at`` (0 = before training), ``sample_fn(model)`` is kept as
    ``record["sample"]``. ``on_step(record)`` runs after each step (progress bars,
    checkpoints, logging live there, not here). Records hold ``step`` (steps done),
    ``loss`` (mean training loss of the step) and ``lr``. Chapter 07 writes this loop.

    Raises:
        ValueError: ``steps`` or ``grad_accum`` not a positive integer.
    """
    for name, value in (("steps", steps), ("grad_accum", grad_accum)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive whole number of steps, got {value!r}.")
    sample_at = set(sample_at)
    history: list[dict] = []
    if sample_fn is not None and start_step == 0 and 0 in sample_at:
        history.append({"step": 0, "sample": sample_fn(model)})
    model.train()
    for step in range(start_step, steps):
        lr = schedule(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        total = 0.0
        for _ in range(grad_accum):
            loss = loss_fn(model, get_batch()) / grad_accum
            loss.backward()
            total += loss.item()
        if grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        record = {"step": step + 1, "loss": total, "lr": lr}
        if eval_fn is not None and (
            (eval_every and (step + 1) % eval_every == 0) or step + 1 == steps
        ):
            record.update(eval_fn(model))
            model.train()
        if sample_fn is not None and step + 1 in sample_at:
            record["sample"] = sample_fn(model)
            model.train()
        history.append(record)
        if on_step is not None:
            on_step(record)
    return history


# -------------------------------------------------------------------------------------
# Pretraining: the recipe, the corpus, held-out loss
# -------------------------------------------------------------------------------------


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
    beta1: float = BETAS[0]
    beta2: float = BETAS[1]
    grad_clip: float = 1.0
    # bookkeeping
    eval_interval: int = 200
    eval_batches: int = 20
    checkpoint_interval: int = 200
    sample_at: tuple[
        int, ...
    ] = ()  # steps at which to keep a generated sample (0: before training)
    seed: int = 1337
    device: str | None = None  # None: CUDA, then MPS, then CPU

    # Fields that may change when a run is resumed (everything else must match).
    RESUMABLE: tuple[str, ...] = field(
        default=(
            "max_steps",
            "eval_interval",
            "eval_batches",
            "checkpoint_interval",
            "sample_at",
            "device",
        ),
        repr=False,
    )

    def __post_init__(self) -> None:
        if self.corpus not in ("shakespeare", "python_docs"):
            raise ValueError(f"corpus must be 'shakespeare' or 'python_docs', not {self.corpus!r}")
        for name in (
            "batch_size",
            "grad_accum",
            "max_steps",
            "eval_interval",
            "eval_batches",
            "checkpoint_interval",
            "block_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
        check_lr(self.lr)
        if self.warmup_steps < 0 or self.min_lr < 0 or self.min_lr > self.lr:
            raise ValueError("need warmup_steps >= 0 and 0 <= min_lr <= lr")
        self.sample_at = tuple(int(s) for s in self.sample_at)

    def model_config(self) -> GPTConfig:
        return GPTConfig(
            vocab_size=self.vocab_size,
            block_size=self.block_size,
            n_layer=self.n_layer,
            n_head=self.n_head,
            n_embd=self.n_embd,
            dropout=self.dropout,
            bias=self.bias,
        )

    def lr_at(self, step: int) -> float:
        """This recipe's learning rate at ``step`` (:func:`lr_schedule`)."""
        return lr_schedule(step, self.lr, self.warmup_steps, self.max_steps, self.min_lr)

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "RESUMABLE"
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)} - {"RESUMABLE"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"Unknown training setting(s) {unknown}; valid ones are {sorted(known)}."
            )
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, **overrides: Any) -> TrainConfig:
        """Read a recipe file (YAML mapping of field names to values), then apply overrides."""
        import yaml

        values = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path} must be a YAML mapping of training settings.")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(values)


def short_run_config(**overrides: Any) -> TrainConfig:
    """Chapter 07's short run: 1,200 steps, about 2.5 minutes on 2 CPU cores, 1.3M parameters.

    4 layers of width 128, a context of 32 tokens, 1,200 steps of 32 windows, peak learning
    rate 5e-3 after 200 warmup steps, no dropout (chosen by the sweep in chapter 07).
    Chapter 13 compares it with the other models of the course.
    """
    values = dict(
        vocab_size=4096,
        n_layer=4,
        n_head=4,
        n_embd=128,
        block_size=32,
        dropout=0.0,
        batch_size=32,
        max_steps=1200,
        lr=5e-3,
        min_lr=5e-4,
        warmup_steps=200,
        eval_interval=100,
        eval_batches=16,
        checkpoint_interval=1200,
        sample_at=(0, 100, 400, 1200),
    )
    values.update(overrides)
    return TrainConfig(**values)


def short_run_dir() -> Path:
    """Where chapter 07 keeps its short run (``<cache>/runs/ch07-short``), for chapter 13."""
    return gdata.cache_dir() / "runs" / "ch07-short"


def even_windows(ids: Tensor, block_size: int, n: int | None = None) -> tuple[Tensor, Tensor]:
    """Deterministic evaluation windows from a 1-D stream: ``(x, y)``, each ``(n, T)``.

    With ``n=None``, every non-overlapping window (the whole stream, once); otherwise ``n``
    windows at evenly spaced offsets, the same ones every time.
    """
    last = len(ids) - block_size - 1
    if last < 0:
        raise ValueError(
            f"The stream has {len(ids)} tokens, fewer than block_size + 1 = "
            f"{block_size + 1}; use more text or a smaller block_size."
        )
    starts = (
        torch.arange(0, last + 1, block_size) if n is None else torch.linspace(0, last, n).long()
    )
    x = torch.stack([ids[s : s + block_size] for s in starts.tolist()])
    y = torch.stack([ids[s + 1 : s + 1 + block_size] for s in starts.tolist()])
    return x, y


@torch.no_grad()
def held_out_loss(
    model: nn.Module,
    ids: Tensor,
    block_size: int,
    n_windows: int | None = None,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
) -> float:
    """Mean next-token cross-entropy (nats per token) of ``model`` on windows of ``ids``
    (:func:`even_windows`), in eval mode; the model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    x, y = even_windows(ids, block_size, n_windows)
    total = 0.0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        with _autocast(torch.device(device)):
            _, loss = model(xb, yb)
        total += loss.item() * yb.numel()
    model.train(was_training)
    return total / y.numel()


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
        return {
            "train_chars": self.train_chars,
            "val_chars": self.val_chars,
            "train_tokens": len(self.train_ids),
            "val_tokens": len(self.val_ids),
            "val_chars_per_token": round(self.val_chars_per_token, 4),
        }


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
        raise CheckpointError(
            f"The tokenizer has {tokenizer.vocab_size} tokens but the config "
            f"asks for {cfg.vocab_size}."
        )
    train_ids = torch.tensor(tokenizer.encode(train_text), dtype=torch.long)
    val_ids = torch.tensor(tokenizer.encode(val_text), dtype=torch.long)
    for name, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) <= cfg.block_size + 1:
            raise ValueError(
                f"The {name} split has only {len(ids)} tokens, too few for "
                f"block_size {cfg.block_size}; use a larger corpus or a smaller "
                "block_size."
            )
    return Corpus(tokenizer, train_ids, val_ids, len(train_text), len(val_text))


def lm_loss(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
    """The language-modelling loss of a batch ``(x, y)``, both ``(B, T)`` (chapter 07)."""
    x, y = batch
    with _autocast(x.device):
        return model(x, y)[1]


# -------------------------------------------------------------------------------------
# Pretraining: the loop wrapped with checkpoints, progress and DDP
# -------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What a run produced: the model, tokenizer, evaluation history, samples and summary."""

    model: GPT
    tokenizer: BPETokenizer
    history: list[dict[str, float]]  # one record per evaluation
    summary: dict[str, Any]
    samples: dict[int, str] = field(default_factory=dict)  # step -> generated text


def _dist_setup(cfg: TrainConfig) -> tuple[int, int, torch.device]:
    """(rank, world_size, device) from torchrun's environment, or (0, 1, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = 0, 0
    if world > 1:
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} must divide evenly among {world} processes.")
    device = get_device(cfg.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return rank, world, device


def _sampler(tokenizer: BPETokenizer, seed: int, n_tokens: int = 48) -> Callable[[nn.Module], str]:
    """A ``sample_fn`` for :func:`train_loop`: a newline, then ``n_tokens`` sampled tokens.

    It uses its own seeded generator, so sampling never changes the training run.
    """
    from gptlab.generate import generate

    def sample_fn(model: nn.Module) -> str:
        raw = model.module if hasattr(model, "module") else model
        device = next(raw.parameters()).device
        start = torch.tensor([tokenizer.encode("\n")], device=device)
        out = generate(
            raw,
            start,
            n_tokens,
            temperature=0.8,
            generator=torch.Generator(device=device).manual_seed(seed),
        )
        return tokenizer.decode(out[0, 1:].tolist())

    return sample_fn


def train(
    cfg: TrainConfig,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    corpus: Corpus | None = None,
    stop_after: int | None = None,
    on_eval: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Pretrain a GPT as ``cfg`` says with :func:`train_loop`; checkpoints go to
    ``out_dir/checkpoint`` when ``out_dir`` is given.

    ``resume=True`` continues from that checkpoint (refusing one whose settings differ):
    model, optimizer, step and both random generators (batches and dropout) are restored.
    ``stop_after`` ends the run after that many steps in this call (tests and chapter 07's
    resume demonstration). Ctrl-C saves a checkpoint before stopping.
    """
    rank, world, device = _dist_setup(cfg)
    is_main = rank == 0
    ckpt_path = Path(out_dir) / "checkpoint" if out_dir is not None else None

    torch.manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    samples: dict[int, str] = {}
    step, trainer_state = 0, None
    if resume:
        if ckpt_path is None:
            raise ValueError("resume=True needs out_dir, the folder of the run to continue.")
        model, tokenizer, state, trainer_state = load_checkpoint(ckpt_path, cfg.model_config())
        saved = TrainConfig.from_dict(state["train_config"])
        diffs = [
            f"{k}: {getattr(saved, k)!r} -> {v!r}"
            for k, v in cfg.to_dict().items()
            if k not in cfg.RESUMABLE and getattr(saved, k) != v
        ]
        if diffs:
            raise CheckpointError(
                "Cannot resume: the run was started with other settings ("
                + "; ".join(diffs)
                + "). Use the same recipe, or a new --out folder."
            )
        if trainer_state is None:
            raise CheckpointError(
                f"{ckpt_path} holds a finished model without optimizer state; it cannot be resumed."
            )
        step, history = state["step"], state["history"]
        samples = {int(k): v for k, v in state.get("samples", {}).items()}
        corpus = corpus or prepare_corpus(cfg, tokenizer)
    else:
        corpus = corpus or prepare_corpus(cfg)
        model = GPT(cfg.model_config())
    raw_model = model.to(device)
    optimizer = configure_optimizer(raw_model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2))
    batch_gen = torch.Generator().manual_seed(cfg.seed + 1)
    if trainer_state is not None:
        optimizer.load_state_dict(trainer_state["optimizer"])
        batch_gen.set_state(trainer_state["batch_rng"])
        torch.set_rng_state(trainer_state["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in trainer_state:
            torch.cuda.set_rng_state(trainer_state["cuda_rng"])
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    local_b = cfg.batch_size // world
    tokens_per_step = cfg.batch_size * cfg.grad_accum * cfg.block_size
    started, cpu_started = time.time(), time.process_time()
    elapsed_before = history[-1]["elapsed_s"] if history else 0.0
    cpu_before = history[-1].get("cpu_s", 0.0) if history else 0.0

    def get_batch() -> tuple[Tensor, Tensor]:  # this process's slice of the global batch
        x, y = gdata.random_windows(corpus.train_ids, cfg.batch_size, cfg.block_size, batch_gen)
        part = slice(rank * local_b, (rank + 1) * local_b)
        return x[part].to(device), y[part].to(device)

    def eval_fn(_: nn.Module) -> dict[str, float]:
        if not is_main:
            return {}
        n = cfg.eval_batches * 8
        val = held_out_loss(raw_model, corpus.val_ids, cfg.block_size, n, device=device)
        return {
            "train_loss": held_out_loss(
                raw_model, corpus.train_ids, cfg.block_size, n, device=device
            ),
            "val_loss": val,
            "val_loss_per_char": val / corpus.val_chars_per_token,
        }

    def snapshot(final: bool = False) -> None:
        if not is_main or ckpt_path is None:
            return
        trainer = (
            None
            if final
            else {
                "optimizer": optimizer.state_dict(),
                "batch_rng": batch_gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
            }
        )
        if trainer is not None and device.type == "cuda":
            trainer["cuda_rng"] = torch.cuda.get_rng_state(device)
        state = {
            "step": step,
            "train_config": cfg.to_dict(),
            "history": history,
            "samples": samples,
            "corpus": corpus.summary(),
        }
        save_checkpoint(ckpt_path, raw_model, corpus.tokenizer, state, trainer)

    bar = None
    if progress and is_main:
        from tqdm import tqdm  # plain text bars (no widgets), refreshed at most every 2 s

        bar = tqdm(
            total=cfg.max_steps,
            initial=step,
            desc="pretrain",
            unit="step",
            dynamic_ncols=True,
            mininterval=2.0,
        )

    def on_step(record: dict) -> None:
        nonlocal step
        step = record["step"]
        if "sample" in record:
            samples[step] = record["sample"]
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.3f}", refresh=False)
        if "val_loss" in record:
            record.update(
                tokens=step * tokens_per_step,
                elapsed_s=round(elapsed_before + time.time() - started, 2),
                # CPU time of all threads: on a busy machine, cpu_s / threads is the
                # wall time the run would have taken alone.
                cpu_s=round(cpu_before + time.process_time() - cpu_started, 2),
            )
            history.append({k: v for k, v in record.items() if k != "sample"})
            if on_eval is not None:
                on_eval(history[-1])
        if step % cfg.checkpoint_interval == 0 and step < cfg.max_steps:
            snapshot()
            if world > 1:
                dist.barrier()
        if stop_after is not None and step - first_step >= stop_after:
            raise _Stop

    first_step = step
    sample_fn = _sampler(corpus.tokenizer, cfg.seed) if cfg.sample_at and is_main else None
    if step == 0 and sample_fn is not None and 0 in cfg.sample_at:
        samples[0] = sample_fn(raw_model)
    try:
        train_loop(
            model,
            get_batch,
            lm_loss,
            optimizer,
            cfg.lr_at,
            cfg.max_steps,
            grad_clip=cfg.grad_clip,
            grad_accum=cfg.grad_accum,
            eval_fn=eval_fn,
            eval_every=cfg.eval_interval,
            sample_fn=sample_fn,
            sample_at=[s for s in cfg.sample_at if s > 0],
            start_step=step,
            on_step=on_step,
        )
    except _Stop:
        pass
    except KeyboardInterrupt:
        snapshot()
        if is_main and ckpt_path is not None:
            print(
                f"Interrupted at step {step}: checkpoint saved in {ckpt_path}; "
                "continue with --resume."
            )
        raise
    finally:
        if bar is not None:
            bar.close()

    snapshot()  # keeps the optimizer state, so a finished run can be extended with more steps
    if world > 1:
        dist.barrier()
    summary = {
        "steps": step,
        "tokens": step * tokens_per_step,
        "parameters": raw_model.num_params(),
        "wall_time_s": round(elapsed_before + time.time() - started, 1),
        "cpu_time_s": round(cpu_before + time.process_time() - cpu_started, 1),
        "threads": torch.get_num_threads(),
        "device": str(device),
        "world_size": world,
        **corpus.summary(),
    }
    if history:
        summary.update({k: history[-1][k] for k in ("train_loss", "val_loss", "val_loss_per_char")})
    if is_main and out_dir is not None:
        (Path(out_dir) / "history.json").write_text(
            json.dumps({"summary": summary, "history": history, "samples": samples}, indent=2)
        )
    return TrainResult(raw_model, corpus.tokenizer, history, summary, samples)


class _Stop(Exception):
    """Raised by the step hook to end a run early (``stop_after``)."""
