"""The training loop of chapter 07, :func:`train_loop`: the only place in gptlab that calls
``backward()``; chapters 07, 09, 10, 11 and the ablation ladder give it their own ``get_batch``
and ``loss_fn``. :func:`train` wraps it for ``gptlab pretrain``: corpus, progress bar, atomic
checkpoints and resume, DDP under ``torchrun``. Batches are ``(B, T)``."""

import dataclasses
import json
import math
import numbers
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm  # plain text bars (no widgets)

from gptlab import data as gdata
from gptlab.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gptlab.generate import generate
from gptlab.model import GPT, GPTConfig
from gptlab.tokenizers import BPETokenizer
from gptlab.utils import DictConfig, check_int, eval_mode, get_device, tr

#: AdamW's (beta1, beta2) in every chapter, GPT-3's values (Brown et al., 2020), also nanoGPT's.
BETAS = (0.9, 0.95)


def check_lr(lr: Any, name: str = "lr") -> float:
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"{name} must be a positive number (for example 3e-4), got {lr!r}.")
    return float(lr)


def configure_optimizer(
    model: nn.Module, lr: float, weight_decay: float = 0.1, betas: tuple[float, float] = BETAS
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; matrices decayed, 1-D tensors not (chapter 07).
    ValueError: ``lr`` is not a positive number, or nothing in ``model`` is trainable."""
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
    """Learning rate at step ``step`` (0-based): linear warmup from ``lr / warmup`` to ``lr``,
    then half a cosine down to ``min_lr`` at step ``total`` (chapter 07 plots it)."""
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
    """Train for optimizer steps ``start_step .. steps - 1``; return one record per step.

    A step sets the learning rate ``schedule(step)``, accumulates gradients of
    ``loss_fn(model, get_batch())`` over ``grad_accum`` batches, clips to ``grad_clip``
    (0: no clipping) and steps. Records hold ``step`` (steps done), ``loss`` and ``lr``, plus
    ``eval_fn(model)``'s dict every ``eval_every`` steps and at the end, and
    ``sample_fn(model)`` as ``"sample"`` at the steps in ``sample_at`` (0: before training).
    ``on_step(record)`` runs after each step (progress, checkpoints). Chapter 07 writes it.
    ValueError: ``steps`` or ``grad_accum`` not a positive whole number."""
    for name, value in (("steps", steps), ("grad_accum", grad_accum)):
        check_int(value, f"{name} must be a positive whole number of steps, got {value!r}.")
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
        done = step + 1  # steps done
        record = {"step": done, "loss": total, "lr": lr}
        if eval_fn is not None and ((eval_every and done % eval_every == 0) or done == steps):
            record.update(eval_fn(model))
            model.train()
        if sample_fn is not None and done in sample_at:
            record["sample"] = sample_fn(model)
            model.train()
        history.append(record)
        if on_step is not None:
            on_step(record)
    return history


@dataclass
class TrainConfig(DictConfig):
    """Everything a pretraining run depends on (a recipe file sets these fields)."""

    corpus: str = "shakespeare"  # or "python_docs"
    vocab_size: int = 4096  # byte-level BPE trained on the training split only
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 128
    dropout: float = 0.0
    bias: bool = True
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
    eval_interval: int = 200
    eval_batches: int = 20
    checkpoint_interval: int = 200
    sample_at: tuple[int, ...] = ()  # steps at which to keep a sample (0: before training)
    seed: int = 1337
    device: str | None = None  # None: CUDA, then MPS, then CPU

    # Fields that may change when a run is resumed (everything else must match).
    RESUMABLE: ClassVar[tuple[str, ...]] = ("max_steps", "eval_interval", "eval_batches")
    RESUMABLE += ("checkpoint_interval", "sample_at", "device")

    def __post_init__(self) -> None:
        if self.corpus not in ("shakespeare", "python_docs"):
            raise ValueError(f"corpus must be 'shakespeare' or 'python_docs', not {self.corpus!r}")
        counts = "batch_size grad_accum max_steps eval_interval eval_batches checkpoint_interval"
        for name in [*counts.split(), "block_size"]:
            value = getattr(self, name)
            check_int(value, f"{name} must be a whole number of at least 1, got {value!r}")
        check_lr(self.lr)
        if self.warmup_steps < 0 or self.min_lr < 0 or self.min_lr > self.lr:
            raise ValueError("need warmup_steps >= 0 and 0 <= min_lr <= lr")
        self.sample_at = tuple(int(s) for s in self.sample_at)

    def model_config(self) -> GPTConfig:
        return GPTConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(GPTConfig)})

    def lr_at(self, step: int) -> float:
        """This recipe's learning rate at ``step`` (:func:`lr_schedule`)."""
        return lr_schedule(step, self.lr, self.warmup_steps, self.max_steps, self.min_lr)


def short_run_config(**overrides: Any) -> TrainConfig:
    """Chapter 07's short run (``gptlab.pretrained("shakespeare-short")``): 800 steps of 32
    windows of 32 tokens, 4 layers of width 128, peak learning rate 5e-3 after 200 warmup."""
    values = dict(n_layer=4, n_head=4, n_embd=128, block_size=32, max_steps=800, lr=5e-3)
    values |= dict(min_lr=5e-4, warmup_steps=200, eval_interval=100, eval_batches=16)
    values |= dict(checkpoint_interval=800, sample_at=(0, 100, 400, 800))
    return TrainConfig(**(values | overrides))


def even_windows(ids: Tensor, block_size: int, n: int | None = None) -> tuple[Tensor, Tensor]:
    """Evaluation windows ``(x, y)``, each ``(n, T)``, of a 1-D stream: ``n`` evenly spaced
    ones, or with ``n=None`` every non-overlapping window."""
    last = len(ids) - block_size - 1
    if last < 0:
        raise ValueError(
            f"The stream has {len(ids)} tokens, fewer than block_size + 1 = "
            f"{block_size + 1}; use more text or a smaller block_size."
        )
    starts = torch.arange(0, last + 1, block_size) if n is None else torch.linspace(0, last, n)
    starts = starts.long().tolist()
    x = torch.stack([ids[s : s + block_size] for s in starts])  # (n, T)
    y = torch.stack([ids[s + 1 : s + 1 + block_size] for s in starts])  # (n, T), shifted by one
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
    x, y = even_windows(ids, block_size, n_windows)
    total = 0.0
    with eval_mode(model):
        for i in range(0, len(x), batch_size):
            xb, yb = x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
            total += lm_loss(model, (xb, yb)).item() * yb.numel()
    return total / y.numel()


def lm_loss(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
    """The language-modelling loss of a batch ``(x, y)``, both ``(B, T)`` (chapter 07); in bf16
    autocast on CUDA, plain fp32 elsewhere (CPU and MPS)."""
    x, y = batch
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=x.device.type == "cuda"):
        return model(x, y)[1]


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
        sizes = dict(train_chars=self.train_chars, val_chars=self.val_chars)
        sizes |= dict(train_tokens=len(self.train_ids), val_tokens=len(self.val_ids))
        return sizes | {"val_chars_per_token": round(self.val_chars_per_token, 4)}


def prepare_corpus(cfg: TrainConfig, tokenizer: BPETokenizer | None = None) -> Corpus:
    """Load the corpus, train the BPE on the training split (unless given), tokenize both."""
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
    train_ids, val_ids = (torch.tensor(tokenizer.encode(t)) for t in (train_text, val_text))
    for name, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) <= cfg.block_size + 1:
            raise ValueError(
                f"The {name} split has only {len(ids)} tokens, too few for block_size "
                f"{cfg.block_size}; use a larger corpus or a smaller block_size."
            )
    return Corpus(tokenizer, train_ids, val_ids, len(train_text), len(val_text))


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


def train(
    cfg: TrainConfig,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    corpus: Corpus | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Pretrain a GPT as ``cfg`` says; checkpoints go to ``out_dir/checkpoint``.

    ``resume=True`` continues from it (model, optimizer, step, both random generators),
    refusing other settings; ``stop_after`` ends after that many steps; Ctrl-C saves first.
    Each DDP process trains on its slice of one global batch, so N processes follow one.
    """
    rank, world, device = _dist_setup(cfg)
    is_main = rank == 0
    ckpt_path = Path(out_dir) / "checkpoint" if out_dir is not None else None

    torch.manual_seed(cfg.seed)
    step, history, samples, trainer_state = 0, [], {}, None
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
            raise CheckpointError(tr(
                "Cannot resume: the run was started with other settings ({diffs}). "
                "Use the same recipe, or a new --out folder."
            ).format(diffs="; ".join(diffs)))  # fmt: skip
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
        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    local_b = cfg.batch_size // world
    tokens_per_step = cfg.batch_size * cfg.grad_accum * cfg.block_size
    # The run's wall and CPU clocks start earlier by the time spent before a resume.
    wall0 = time.time() - (history[-1]["elapsed_s"] if history else 0.0)
    cpu0 = time.process_time() - (history[-1].get("cpu_s", 0.0) if history else 0.0)

    def get_batch() -> tuple[Tensor, Tensor]:  # this process's slice of the global batch
        x, y = gdata.random_windows(corpus.train_ids, cfg.batch_size, cfg.block_size, batch_gen)
        part = slice(rank * local_b, (rank + 1) * local_b)
        return x[part].to(device), y[part].to(device)

    def eval_fn(_: nn.Module) -> dict[str, float]:
        if not is_main:
            return {}
        val, train_loss = (
            held_out_loss(raw_model, ids, cfg.block_size, cfg.eval_batches * 8, device=device)
            for ids in (corpus.val_ids, corpus.train_ids)
        )
        per_char = val / corpus.val_chars_per_token
        return {"train_loss": train_loss, "val_loss": val, "val_loss_per_char": per_char}

    def sample_fn(_: nn.Module) -> str:  # its own generator: sampling never changes the run
        start = torch.tensor([corpus.tokenizer.encode("\n")], device=device)
        gen = torch.Generator(device=device).manual_seed(cfg.seed)
        out = generate(raw_model, start, 48, temperature=0.8, generator=gen)
        return corpus.tokenizer.decode(out[0, 1:].tolist())

    def snapshot() -> None:
        if not is_main or ckpt_path is None:
            return
        trainer = dict(optimizer=optimizer.state_dict(), batch_rng=batch_gen.get_state())
        trainer.update(torch_rng=torch.get_rng_state(), step=step)
        if device.type == "cuda":
            trainer["cuda_rng"] = torch.cuda.get_rng_state(device)
        state = dict(step=step, train_config=cfg.to_dict(), history=history, samples=samples)
        state["corpus"] = corpus.summary()
        save_checkpoint(ckpt_path, raw_model, corpus.tokenizer, state, trainer)

    hide = not (progress and is_main)  # the bar is refreshed at most every 2 s
    bar = tqdm(
        total=cfg.max_steps, initial=step, desc="pretrain", unit="step", mininterval=2, disable=hide
    )

    def on_step(record: dict) -> None:
        nonlocal step
        step = record["step"]
        if "sample" in record:
            samples[step] = record["sample"]
        bar.update(1)
        bar.set_postfix(loss=f"{record['loss']:.3f}", refresh=False)
        if "val_loss" in record:
            # CPU time of all threads: on a busy machine, cpu_s / threads is the run's time alone
            wall, cpu = round(time.time() - wall0, 2), round(time.process_time() - cpu0, 2)
            record.update(tokens=step * tokens_per_step, elapsed_s=wall, cpu_s=cpu)
            history.append({k: v for k, v in record.items() if k != "sample"})
        if step % cfg.checkpoint_interval == 0 and step < cfg.max_steps:
            snapshot()
            if world > 1:
                dist.barrier()
        if stop_after is not None and step - first_step >= stop_after:
            raise _Stop

    first_step = step
    sample = sample_fn if cfg.sample_at and is_main else None
    if step == 0 and sample is not None and 0 in cfg.sample_at:
        samples[0] = sample(raw_model)
    try:
        loop_args = dict(grad_clip=cfg.grad_clip, grad_accum=cfg.grad_accum, start_step=step)
        loop_args |= dict(eval_fn=eval_fn, eval_every=cfg.eval_interval, on_step=on_step)
        loop_args |= dict(sample_fn=sample, sample_at=[s for s in cfg.sample_at if s > 0])
        train_loop(model, get_batch, lm_loss, optimizer, cfg.lr_at, cfg.max_steps, **loop_args)
    except _Stop:
        pass
    except KeyboardInterrupt:
        snapshot()
        if is_main and ckpt_path is not None:
            print(f"Interrupted at step {step}: saved in {ckpt_path}; continue with --resume.")
        raise
    finally:
        bar.close()

    snapshot()  # keeps the optimizer state, so a finished run can be extended with more steps
    if world > 1:
        dist.barrier()
    wall, cpu = round(time.time() - wall0, 1), round(time.process_time() - cpu0, 1)
    summary = dict(steps=step, tokens=step * tokens_per_step, parameters=raw_model.num_params())
    summary |= dict(wall_time_s=wall, cpu_time_s=cpu, threads=torch.get_num_threads())
    summary |= dict(device=str(device), world_size=world) | corpus.summary()
    if history:
        summary.update({k: history[-1][k] for k in ("train_loss", "val_loss", "val_loss_per_char")})
    if is_main and out_dir is not None:
        (Path(out_dir) / "history.json").write_text(
            json.dumps({"summary": summary, "history": history, "samples": samples}, indent=2)
        )
    return TrainResult(raw_model, corpus.tokenizer, history, summary, samples)


class _Stop(Exception):
    """Raised by the step hook to end a run early (``stop_after``)."""
