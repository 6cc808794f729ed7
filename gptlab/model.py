"""A GPT-2-compatible language model (chapters 05 and 06): token and position embeddings,
``n_layer`` pre-LayerNorm blocks, a final LayerNorm and an output layer tied to the token
embedding (Radford et al., 2019). Module names follow Hugging Face's ``GPT2LMHeadModel`` so that
:mod:`gptlab.hf` converts with a short loop. Shapes: ``B`` batch, ``T`` tokens, ``C`` channels,
``V`` vocabulary."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gptlab.attention import KVCache, MultiHeadAttention, check_head_count
from gptlab.hf import WeightsNotCachedError, gpt_from_hf, gpt_to_hf
from gptlab.utils import DictConfig, check_int, tr

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from transformers import GPT2LMHeadModel

__all__ = ["GPT", "GPTConfig", "LayerNorm", "MLP", "Block", "WeightsNotCachedError", "PRESETS"]

#: Sizes of the four released GPT-2 models, as (n_layer, n_head, n_embd).
PRESETS: dict[str, dict[str, int]] = {
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768),  # 124M parameters
    "gpt2-medium": dict(n_layer=24, n_head=16, n_embd=1024),  # 355M
    "gpt2-large": dict(n_layer=36, n_head=20, n_embd=1280),  # 774M
    "gpt2-xl": dict(n_layer=48, n_head=25, n_embd=1600),  # 1558M
}


@dataclass
class GPTConfig(DictConfig):
    """A GPT's hyperparameters, checked on creation (ValueError); defaults: GPT-2 small (124M).
    ``block_size``: the longest sequence; ``n_head`` divides ``n_embd``; ``dropout``: everywhere."""

    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True

    PRESET_NAMES: ClassVar[tuple[str, ...]] = tuple(PRESETS)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            check_int(value, f"GPTConfig.{name} must be a positive integer, got {value!r}.")
        check_head_count(self.n_embd, self.n_head)
        d = self.dropout
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 <= d < 1.0:
            raise ValueError(
                f"GPTConfig.dropout must be in [0, 1) (the probability of dropping), got {d!r}."
            )
        self.dropout = float(self.dropout)
        if not isinstance(self.bias, bool):
            raise ValueError(f"GPTConfig.bias must be True or False, got {self.bias!r}.")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> GPTConfig:
        """A released GPT-2 size (:data:`PRESETS`), optionally with fields changed."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; valid names are {', '.join(PRESETS)}.")
        return cls.from_dict(dict(vocab_size=50257, block_size=1024, **PRESETS[name]) | overrides)


#: GPT-2's LayerNorm over ``(..., C)`` is PyTorch's: ``eps=1e-5``, optionally no shift (``bias``).
LayerNorm = nn.LayerNorm


class MLP(nn.Module):
    """The feed-forward ``(B, T, C) -> (B, T, 4C) -> (B, T, C)``, GPT-2's GELU (tanh form)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """A pre-LayerNorm block, ``(B, T, C) -> (B, T, C)``: ``x + attn(ln_1(x))``, then
    ``x + mlp(ln_2(x))``; each sub-layer adds to the residual stream (chapter 05)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = MultiHeadAttention(config.n_embd, config.n_head, config.dropout, config.bias)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


def init_weights(module: nn.Module, blocks: Iterable[nn.Module] = (), n_layer: int = 1) -> None:
    """GPT-2's initialisation (chapter 06): Linear and Embedding weights N(0, 0.02), Linear
    biases 0 (LayerNorms keep 1 and 0). The residual projections of ``blocks`` (``attn.c_proj``,
    ``mlp.c_proj``) start 1/sqrt(2 * n_layer) smaller, so the residual sum does not grow."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
    for block in blocks:
        for proj in (block.attn.c_proj, block.mlp.c_proj):
            nn.init.normal_(proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))


def check_idx(idx: Tensor, config: GPTConfig, past_len: int = 0) -> Tensor:
    """``idx`` ``(B, T)`` as integer token ids that fit ``config`` after ``past_len`` cached
    tokens (the GPT's and the ladder's check); ValueError, with the fix, for anything else."""
    if not isinstance(idx, Tensor):
        raise ValueError(f"idx must be a tensor of token ids (B, T), got {type(idx).__name__}.")
    if idx.dim() != 2:
        raise ValueError(tr(
            "idx must have shape (B, T), got {shape}; for a single sequence use "
            "idx.unsqueeze(0) (or idx.view(1, -1))."
        ).format(shape=tuple(idx.shape)))  # fmt: skip
    if idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
        raise ValueError(tr(
            "idx must hold integer token ids, got dtype {dtype}; convert with idx.long()."
        ).format(dtype=idx.dtype))  # fmt: skip
    if idx.dtype not in (torch.int64, torch.int32):
        idx = idx.long()
    T = idx.size(1)
    if T == 0:
        raise ValueError("idx has no tokens (T = 0); pass at least one token per sequence.")
    total, block = past_len + T, config.block_size
    if total > block:
        cached = tr(" ({past} cached + {new} new)").format(past=past_len, new=T) if past_len else ""
        raise ValueError(tr(
            "sequence of length {total}{cached} is longer than block_size {block}; crop the "
            "input to the last {block} tokens (or use a model with a larger block_size)."
        ).format(total=total, cached=cached, block=block))  # fmt: skip
    # Out-of-range ids would give an unreadable index error (skipped in torch.compile).
    V = config.vocab_size
    if not torch.compiler.is_compiling() and not 0 <= int(idx.min()) <= int(idx.max()) < V:
        offending = int(idx[(idx < 0) | (idx >= V)][0])
        raise ValueError(tr(
            "token id {id} is out of range for vocab_size {V} (valid ids are 0..{last}); check "
            "that the tokenizer matches the model's vocabulary."
        ).format(id=offending, V=V, last=V - 1))  # fmt: skip
    return idx


class GPT(nn.Module):
    """GPT-2: token ids ``(B, T)`` -> next-token logits ``(B, T, V)`` (chapter 06). ``wte``
    ``(V, C)``, ``wpe`` ``(block_size, C)``, ``h`` the blocks, ``ln_f``, and ``lm_head`` whose
    weight *is* ``wte.weight`` (weight tying); :func:`init_weights` sets the weights."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT expects a GPTConfig, got {type(config).__name__}.")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tying: the same Parameter object, counted once
        init_weights(self, self.h, config.n_layer)

    def hidden_states(self, idx: Tensor, cache: KVCache | None = None) -> Tensor:
        """The trunk's output ``(B, T, C)`` for ``idx`` ``(B, T)``, after the final LayerNorm.
        With a :class:`~gptlab.attention.KVCache`, ``idx`` follows the cached tokens."""
        past = 0 if cache is None else cache.length
        idx = check_idx(idx, self.config, past)
        x = self.drop(self.wte(idx) + self.wpe.weight[past : past + idx.size(1)])  # (B, T, C)
        for layer, block in enumerate(self.h):
            x = block(x, cache, layer)
        return self.ln_f(x)

    def forward(
        self, idx: Tensor, targets: Tensor | None = None, cache: KVCache | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """``(logits (B, T, V), loss)`` for ids ``idx`` ``(B, T)``; ``loss`` is None without
        ``targets``, the ``(B, T)`` ids that follow each position (already shifted, unlike
        Hugging Face's ``labels``; -100 is ignored). ``cache`` as in :meth:`hidden_states`."""
        logits = self.lm_head(self.hidden_states(idx, cache))  # (B, T, V)
        if targets is None:
            return logits, None
        B, T, _ = logits.shape
        if tuple(targets.shape) != (B, T):
            raise ValueError(
                f"targets must have the same shape as idx, (B, T) = {(B, T)}, got "
                f"{tuple(targets.shape)}."
            )
        if targets.is_floating_point():
            raise ValueError(f"targets must hold integer token ids, got dtype {targets.dtype}.")
        return logits, F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(-1).long())

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameters, the tied matrix once; ``non_embedding`` leaves out ``wpe`` only."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.wpe.weight.numel() if non_embedding else n

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Training FLOPs per token, ``6 N + 6 n_layer seq_len n_embd`` with ``N`` the
        non-embedding parameters (Kaplan et al., 2020, Table 1; chapter 06 derives it)."""
        T = self.config.block_size if seq_len is None else seq_len
        check_int(T, f"seq_len must be a positive integer, got {seq_len!r}.")
        N = self.num_params(non_embedding=True)
        return 6 * N + 6 * self.config.n_layer * T * self.config.n_embd

    @classmethod
    def from_hf(cls, model_or_path: Any, **kwargs: Any) -> GPT:
        """A GPT with the weights of a Hugging Face GPT-2; see :func:`gptlab.hf.gpt_from_hf`."""
        return gpt_from_hf(model_or_path, **kwargs)

    def to_hf(self) -> GPT2LMHeadModel:
        """This model as a ``GPT2LMHeadModel``; see :func:`gptlab.hf.gpt_to_hf`."""
        return gpt_to_hf(self)
