"""A GPT-2-compatible language model (chapters 05 and 06).

The model of the GPT-2 paper (Radford et al., 2019): token and position embeddings,
``n_layer`` pre-LayerNorm transformer blocks, a final LayerNorm and an output layer that shares
its weight matrix with the token embedding. Module names follow Hugging Face's
``GPT2LMHeadModel`` (``wte``, ``wpe``, ``h.0.attn.c_attn`` ...), so the conversion in
:mod:`gptlab.hf` is a short loop.

Shape letters: ``B`` batch, ``T`` time (tokens), ``C`` channels (``n_embd``), ``V`` vocabulary
size, ``nh`` heads, ``hs`` head size (``C // nh``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gptlab.attention import KVCache, MultiHeadAttention, check_head_count
from gptlab.hf import WeightsNotCachedError, gpt_from_hf, gpt_to_hf

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from transformers import GPT2LMHeadModel

__all__ = ["GPT", "GPTConfig", "LayerNorm", "MLP", "Block", "WeightsNotCachedError", "PRESETS"]

#: Sizes of the four released GPT-2 models: (n_layer, n_head, n_embd).
PRESETS: dict[str, dict[str, int]] = {
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768),  # 124M parameters
    "gpt2-medium": dict(n_layer=24, n_head=16, n_embd=1024),  # 355M
    "gpt2-large": dict(n_layer=36, n_head=20, n_embd=1280),  # 774M
    "gpt2-xl": dict(n_layer=48, n_head=25, n_embd=1600),  # 1558M
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class GPTConfig:
    """Hyperparameters of a GPT model. The defaults are those of the smallest GPT-2 (124M).

    Attributes:
        vocab_size: number of token ids ``V`` (GPT-2's BPE has 50257).
        block_size: the longest sequence ``T`` the model can read (size of the position table).
        n_layer: number of transformer blocks.
        n_head: attention heads per block ``nh``; must divide ``n_embd``.
        n_embd: channels ``C`` of every token's vector.
        dropout: dropout probability used everywhere (embeddings, attention, residuals);
            0 for evaluation and for fine-tuning small data, e.g. 0.1 for training from scratch.
        bias: whether Linear and LayerNorm layers have biases (GPT-2 has them).

    The values are checked when the config is created; changing fields afterwards is not
    re-checked, so prefer ``dataclasses.replace(config, n_layer=6)``.
    """

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
            if not _is_int(value) or value <= 0:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}.")
        check_head_count(self.n_embd, self.n_head)
        d = self.dropout
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 <= d < 1.0:
            raise ValueError(
                f"GPTConfig.dropout must be in [0, 1) (the probability of dropping), got {d!r}."
            )
        self.dropout = float(self.dropout)
        if not isinstance(self.bias, bool):
            raise ValueError(f"GPTConfig.bias must be True or False, got {self.bias!r}.")

    @property
    def head_size(self) -> int:
        """Channels per attention head, ``hs = n_embd // n_head``."""
        return self.n_embd // self.n_head

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> GPTConfig:
        """The config of a released GPT-2 size, optionally with some fields changed.

        ``name`` is one of ``"gpt2"``, ``"gpt2-medium"``, ``"gpt2-large"``, ``"gpt2-xl"``; all use
        ``vocab_size=50257`` and ``block_size=1024``. Example:
        ``GPTConfig.preset("gpt2", dropout=0.1)``.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; valid names are {', '.join(PRESETS)}.")
        return cls.from_dict(dict(vocab_size=50257, block_size=1024, **PRESETS[name]) | overrides)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (JSON/YAML friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GPTConfig:
        """Build a config from :meth:`to_dict`'s output; unknown keys raise ValueError."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown GPTConfig field(s) {unknown}; valid fields are {names}.")
        return cls(**d)


# -- Building blocks ------------------------------------------------------------------------------


class LayerNorm(nn.LayerNorm):
    """LayerNorm over the last dimension ``(..., C)`` with GPT-2's ``eps=1e-5``; with
    ``bias=False`` there is no shift and ``self.bias`` is ``None``."""

    def __init__(self, ndim: int, bias: bool = True, eps: float = 1e-5) -> None:
        super().__init__(ndim, eps=eps, bias=bias)


class MLP(nn.Module):
    """The position-wise feed-forward network: ``(B, T, C) -> (B, T, 4C) -> (B, T, C)``.

    ``c_fc`` widens to ``4C``, GELU (tanh approximation, the ``gelu_new`` of GPT-2) adds the
    non-linearity, ``c_proj`` narrows back to ``C``, then dropout.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, T, C)`` -> ``(B, T, C)``."""
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """One transformer block, pre-LayerNorm as in GPT-2: ``(B, T, C) -> (B, T, C)``.

    ``x = x + attn(ln_1(x))`` lets tokens exchange information, then
    ``x = x + mlp(ln_2(x))`` processes each token on its own. The ``x + ...`` form is the
    residual stream: each sub-layer adds a correction to it.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = MultiHeadAttention(config.n_embd, config.n_head, config.dropout, config.bias)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        """``x`` ``(B, T, C)`` -> ``(B, T, C)``; ``cache`` and ``layer`` go to the attention."""
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


# -- The model ------------------------------------------------------------------------------------


class GPT(nn.Module):
    """A GPT-2-compatible language model: token ids ``(B, T)`` -> next-token logits ``(B, T, V)``.

    Submodules (named as in Hugging Face's GPT-2): ``wte`` token embedding ``(V, C)``, ``wpe``
    position embedding ``(block_size, C)``, ``drop`` dropout, ``h`` list of :class:`Block`,
    ``ln_f`` final LayerNorm, ``lm_head`` output layer ``C -> V`` whose weight *is* ``wte.weight``
    (weight tying: one matrix both reads and writes tokens).
    """

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

        self.apply(self._init_weights)
        # GPT-2 paper: scale the weights of layers that write into the residual stream by
        # 1/sqrt(N), N = number of residual layers (2 per block), so that the sum of 2 * n_layer
        # additions keeps roughly the same variance however deep the model is.
        residual_std = 0.02 / math.sqrt(2 * config.n_layer)
        for block in self.h:
            for proj in (block.attn.c_proj, block.mlp.c_proj):
                nn.init.normal_(proj.weight, mean=0.0, std=residual_std)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """GPT-2 initialisation: N(0, 0.02) weights, zero biases, LayerNorm scale 1 and shift 0."""
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    # -- forward --------------------------------------------------------------------------------

    def _check_idx(self, idx: Tensor, past_len: int) -> Tensor:
        if not isinstance(idx, Tensor):
            raise ValueError(f"idx must be a tensor of token ids (B, T), got {type(idx).__name__}.")
        if idx.dim() != 2:
            raise ValueError(
                f"idx must have shape (B, T), got {tuple(idx.shape)}; for a single sequence use "
                f"idx.unsqueeze(0) (or idx.view(1, -1))."
            )
        if idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
            raise ValueError(
                f"idx must hold integer token ids, got dtype {idx.dtype}; convert with idx.long()."
            )
        if idx.dtype not in (torch.int64, torch.int32):
            idx = idx.long()
        T = idx.size(1)
        if T == 0:
            raise ValueError("idx has no tokens (T = 0); pass at least one token per sequence.")
        total, block = past_len + T, self.config.block_size
        if total > block:
            cached = f" ({past_len} cached + {T} new)" if past_len else ""
            raise ValueError(
                f"sequence of length {total}{cached} is longer than block_size {block}; crop the "
                f"input to the last {block} tokens (or use a model with a larger block_size)."
            )
        # Out-of-range ids would give an unreadable index error (a device-side assert on GPU).
        # The check syncs with the GPU, so it is skipped inside torch.compile.
        V = self.config.vocab_size
        if not torch.compiler.is_compiling() and not 0 <= int(idx.min()) <= int(idx.max()) < V:
            offending = int(idx[(idx < 0) | (idx >= V)][0])
            raise ValueError(
                f"token id {offending} is out of range for vocab_size {V} (valid ids are "
                f"0..{V - 1}); check that the tokenizer matches the model's vocabulary."
            )
        return idx

    def hidden_states(self, idx: Tensor, cache: KVCache | None = None) -> Tensor:
        """The trunk's output for ``idx`` ``(B, T)``: ``(B, T, C)``, after the final LayerNorm.

        With a :class:`~gptlab.attention.KVCache`, ``idx`` holds the tokens that follow the
        ``cache.length`` cached ones (their positions continue there) and the cache is updated.
        """
        past = 0 if cache is None else cache.length
        idx = self._check_idx(idx, past)
        if cache is not None:
            cache.check_room(idx.size(1))
        x = self.drop(self.wte(idx) + self.wpe.weight[past : past + idx.size(1)])  # (B, T, C)
        for layer, block in enumerate(self.h):
            x = block(x, cache, layer)
        return self.ln_f(x)

    def forward(
        self, idx: Tensor, targets: Tensor | None = None, cache: KVCache | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Next-token logits ``(B, T, V)`` for ``idx`` ``(B, T)``, and the loss.

        Args:
            idx: token ids ``(B, T)``, integer dtype, ``0 <= id < vocab_size``.
            targets: optional ``(B, T)`` ids of the token that *follows* each position
                (already shifted, unlike Hugging Face's ``labels``); ``-100`` is ignored.
            cache: optional :class:`~gptlab.attention.KVCache`, updated in place (see
                :meth:`hidden_states`).

        Returns:
            ``(logits, loss)``, always: ``loss`` is the mean cross-entropy over the
            non-ignored positions, or ``None`` without ``targets``.
        """
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
        loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(-1).long())
        return logits, loss

    # -- sizes and costs ------------------------------------------------------------------------

    def num_params(self, non_embedding: bool = False) -> int:
        """Number of parameters, the tied ``wte``/``lm_head`` matrix once; ``non_embedding``
        leaves out ``wpe`` (``wte`` stays: it is also the output layer), as scaling laws do."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.wpe.weight.numel()
        return n

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Training FLOPs (forward + backward) per token, after Kaplan et al. (2020), Table 1:
        ``6 * N + 6 * n_layer * seq_len * n_embd``, with ``N = num_params(non_embedding=True)``.

        A forward pass costs two FLOPs per weight plus the attention scores over ``seq_len``
        (default ``block_size``) tokens, the backward pass about twice that. ``N`` includes the
        token embedding, which is also the output layer. Chapter 06 derives it.
        """
        T = self.config.block_size if seq_len is None else seq_len
        if not _is_int(T) or T <= 0:
            raise ValueError(f"seq_len must be a positive integer, got {seq_len!r}.")
        N = self.num_params(non_embedding=True)
        return 6 * N + 6 * self.config.n_layer * T * self.config.n_embd

    def weight_memory_bytes(self, dtype: torch.dtype = torch.float32) -> int:
        """Bytes needed to store the weights in ``dtype`` (tied weights once); no gradients,
        optimizer state or activations."""
        return self.num_params() * dtype.itemsize

    def crop_block_size(self, block_size: int) -> None:
        """Shrink the context to ``block_size`` (keep the first rows of ``wpe``; update
        ``self.config``), e.g. to fine-tune a pretrained model on shorter sequences."""
        if not _is_int(block_size) or not 0 < block_size <= self.config.block_size:
            raise ValueError(
                f"block_size must be an integer in 1..{self.config.block_size} (the current "
                f"block_size; it can only shrink), got {block_size!r}."
            )
        self.wpe.weight = nn.Parameter(self.wpe.weight.detach()[:block_size].clone())
        self.wpe.num_embeddings = block_size
        self.config = dataclasses.replace(self.config, block_size=block_size)

    # -- Hugging Face conversion (gptlab.hf, chapter 06) ------------------------------------------

    @classmethod
    def from_hf(cls, model_or_path: Any, **kwargs: Any) -> GPT:
        """A GPT with the weights of a Hugging Face GPT-2; see :func:`gptlab.hf.gpt_from_hf`."""
        return gpt_from_hf(model_or_path, **kwargs)

    def to_hf(self) -> GPT2LMHeadModel:
        """This model as a ``GPT2LMHeadModel``; see :func:`gptlab.hf.gpt_to_hf`."""
        return gpt_to_hf(self)
