"""A GPT-2-compatible language model and its conversion to and from Hugging Face.

The model is the one described in the GPT-2 paper (Radford et al., 2019): token and position
embeddings, ``n_layer`` pre-LayerNorm transformer blocks, a final LayerNorm and an output layer
that shares its weight matrix with the token embedding. Module names follow Hugging Face's
``GPT2LMHeadModel`` (``wte``, ``wpe``, ``h.0.attn.c_attn`` ...) so that converting weights is a
short, readable loop: our name is the Hugging Face name without its ``transformer.`` prefix.

Shape letters: ``B`` batch, ``T`` time (tokens), ``C`` channels (``n_embd``), ``V`` vocabulary
size, ``nh`` heads, ``hs`` head size (``C // nh``).

``transformers`` is imported only inside the conversion functions, so ``import gptlab.model``
stays fast.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gptlab.attention import KVCache, MultiHeadAttention, check_head_count

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from transformers import GPT2Config, GPT2LMHeadModel

__all__ = [
    "GPT",
    "GPTConfig",
    "LayerNorm",
    "MLP",
    "Block",
    "WeightsNotCachedError",
    "PRESETS",
]

#: Sizes of the four released GPT-2 models: (n_layer, n_head, n_embd).
PRESETS: dict[str, dict[str, int]] = {
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768),  # 124M parameters
    "gpt2-medium": dict(n_layer=24, n_head=16, n_embd=1024),  # 355M
    "gpt2-large": dict(n_layer=36, n_head=20, n_embd=1280),  # 774M
    "gpt2-xl": dict(n_layer=48, n_head=25, n_embd=1600),  # 1558M
}


class WeightsNotCachedError(OSError):
    """Pretrained weights were asked for by Hub name but are not in the local cache and
    could not be downloaded (offline machine, no network)."""


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


def _is_compiling() -> bool:
    """True while torch.compile traces the model (older PyTorch: always False)."""
    compiler = getattr(torch, "compiler", None)
    is_compiling = getattr(compiler, "is_compiling", None)
    return bool(is_compiling is not None and is_compiling())


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
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)):
            raise ValueError(f"GPTConfig.dropout must be a number in [0, 1), got {self.dropout!r}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(
                f"GPTConfig.dropout must be in [0, 1) (it is the probability of dropping), "
                f"got {self.dropout}."
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
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(
                f"unknown GPTConfig field(s) {sorted(unknown)}; valid fields are "
                f"{[f.name for f in dataclasses.fields(cls)]}."
            )
        values: dict[str, Any] = dict(vocab_size=50257, block_size=1024, **PRESETS[name])
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (JSON/YAML friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GPTConfig:
        """Build a config from :meth:`to_dict`'s output; unknown keys raise ValueError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(
                f"unknown GPTConfig field(s) {sorted(unknown)}; valid fields are {sorted(names)}."
            )
        return cls(**d)


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


class LayerNorm(nn.LayerNorm):
    """LayerNorm over the last dimension ``(..., C) -> (..., C)`` with ``eps=1e-5`` (GPT-2's).

    With ``bias=False`` there is no additive parameter and ``self.bias`` is ``None``.
    """

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

    def forward(
        self, x: Tensor, past_kv: KVCache | None = None, use_cache: bool = False
    ) -> Tensor | tuple[Tensor, KVCache]:
        """``x`` ``(B, T, C)`` -> ``(B, T, C)``; with ``use_cache=True`` also the layer's
        updated ``(k, v)`` cache, each ``(B, nh, T_past + T, hs)`` (see
        :meth:`gptlab.attention.MultiHeadAttention.forward`)."""
        if use_cache:
            attn_out, kv = self.attn(self.ln_1(x), past_kv=past_kv, use_cache=True)
        else:
            attn_out, kv = self.attn(self.ln_1(x), past_kv=past_kv), None
        x = x + attn_out
        x = x + self.mlp(self.ln_2(x))
        return (x, kv) if use_cache else x


# ---------------------------------------------------------------------------------------------
# Hugging Face naming
# ---------------------------------------------------------------------------------------------

# Hugging Face's GPT-2 uses `Conv1D` layers (a name inherited from OpenAI's TensorFlow code):
# they compute x @ W + b with W stored as (in_features, out_features). nn.Linear computes
# x @ W.T + b with W stored as (out_features, in_features). Same maths, transposed storage,
# so these four weights are transposed on the way in and on the way out.
_CONV1D_WEIGHTS = (
    "attn.c_attn.weight",
    "attn.c_proj.weight",
    "mlp.c_fc.weight",
    "mlp.c_proj.weight",
)


def _hf_name(name: str) -> str:
    """Our parameter name -> Hugging Face's.

    ``h.0.ln_1.weight`` -> ``transformer.h.0.ln_1.weight``; ``lm_head.weight`` stays.
    """
    return name if name.startswith("lm_head.") else "transformer." + name


def _our_name(hf_name: str) -> str:
    """Hugging Face's parameter name -> ours (drop the ``transformer.`` prefix)."""
    return hf_name.removeprefix("transformer.")


def _is_conv1d_weight(name: str) -> bool:
    return name.endswith(_CONV1D_WEIGHTS)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _hf_offline() -> bool:
    """Whether offline mode is requested *now* (huggingface_hub reads it once, at import)."""
    return _env_flag("HF_HUB_OFFLINE") or _env_flag("TRANSFORMERS_OFFLINE")


def _not_cached_message(name: str, reason: str) -> str:
    try:
        from huggingface_hub import constants

        cache = constants.HF_HUB_CACHE
    except Exception:  # pragma: no cover - the cache location is only for the message
        cache = "~/.cache/huggingface/hub"
    return (
        f"Could not load the pretrained weights {name!r}: the weights are not in the local "
        f"Hugging Face cache ({cache}) and {reason}. To fix this, connect to the internet once "
        f"and run `GPT2LMHeadModel.from_pretrained({name!r})` (or `hf download {name}`, called "
        f"`huggingface-cli download {name}` in older versions) to cache them, or pass the path "
        f"of a folder saved with `model.save_pretrained(folder)`."
    )


def _load_hf_model(model_or_path: Any) -> GPT2LMHeadModel:
    """Return a ``GPT2LMHeadModel`` from an instance, a local folder or a Hub name."""
    from transformers import GPT2LMHeadModel

    if isinstance(model_or_path, GPT2LMHeadModel):
        return model_or_path
    if isinstance(model_or_path, nn.Module):
        raise TypeError(
            f"from_hf expects a transformers.GPT2LMHeadModel, got {type(model_or_path).__name__}; "
            f"load the model with GPT2LMHeadModel.from_pretrained(...) instead."
        )
    if not isinstance(model_or_path, (str, os.PathLike)):
        raise TypeError(
            f"from_hf expects a GPT2LMHeadModel, a folder path or a Hub name, "
            f"got {model_or_path!r}."
        )

    text = os.fspath(model_or_path)
    folder = os.path.expanduser(text)
    if os.path.isdir(folder):  # a local folder never touches the network
        return GPT2LMHeadModel.from_pretrained(folder, local_files_only=True)
    looks_like_path = isinstance(model_or_path, Path) or text.startswith((".", "/", "~", "\\")) \
        or os.path.exists(folder)
    if looks_like_path:
        raise FileNotFoundError(
            f"{text!r} is not a folder. Pass a folder written by model.save_pretrained(folder) "
            f"(with config.json and model.safetensors), a GPT2LMHeadModel, or a Hub name "
            f"like 'gpt2'."
        )

    # A Hub name. Try the local cache first, so that cached weights never need the network.
    try:
        return GPT2LMHeadModel.from_pretrained(text, local_files_only=True)
    except OSError as exc:
        if _hf_offline():
            raise WeightsNotCachedError(
                _not_cached_message(text, "offline mode is on (HF_HUB_OFFLINE=1)")
            ) from exc
    try:
        return GPT2LMHeadModel.from_pretrained(text)
    except Exception as exc:  # network errors come in many types; the cause stays attached
        raise WeightsNotCachedError(
            _not_cached_message(text, f"downloading them failed ({type(exc).__name__}: {exc})")
        ) from exc


def _config_from_hf(hf_config: GPT2Config, bias: bool, dropout: float | None) -> GPTConfig:
    """Translate a ``GPT2Config``; refuse variants that this model does not implement."""
    act = getattr(hf_config, "activation_function", "gelu_new")
    if act not in ("gelu_new", "gelu_pytorch_tanh"):
        raise NotImplementedError(
            f"this GPT uses GELU with the tanh approximation ('gelu_new' / 'gelu_pytorch_tanh'), "
            f"but the Hugging Face config has activation_function={act!r}; the logits would differ."
        )
    unsupported_flags = (
        "scale_attn_by_inverse_layer_idx",
        "reorder_and_upcast_attn",
        "add_cross_attention",
    )
    for flag in unsupported_flags:
        if getattr(hf_config, flag, False):
            raise NotImplementedError(
                f"the Hugging Face config sets {flag}=True, which this GPT does not implement; "
                f"only the original GPT-2 architecture can be converted."
            )
    if not getattr(hf_config, "scale_attn_weights", True):
        raise NotImplementedError(
            "the Hugging Face config has scale_attn_weights=False (no 1/sqrt(hs) scaling), "
            "which this GPT does not implement."
        )
    n_embd = hf_config.n_embd
    n_inner = getattr(hf_config, "n_inner", None)
    if n_inner is not None and n_inner != 4 * n_embd:
        raise NotImplementedError(
            f"the Hugging Face config has n_inner={n_inner}, but this GPT's MLP width is "
            f"4 * n_embd = {4 * n_embd}."
        )
    eps = getattr(hf_config, "layer_norm_epsilon", 1e-5)
    if not math.isclose(eps, 1e-5, rel_tol=1e-6):
        raise NotImplementedError(
            f"the Hugging Face config has layer_norm_epsilon={eps}, but this GPT uses 1e-5."
        )
    block_size = getattr(hf_config, "n_positions", None) or getattr(hf_config, "n_ctx")
    return GPTConfig(
        vocab_size=hf_config.vocab_size,
        block_size=block_size,
        n_layer=hf_config.n_layer,
        n_head=hf_config.n_head,
        n_embd=n_embd,
        dropout=hf_config.resid_pdrop if dropout is None else dropout,
        bias=bias,
    )


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


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
            raise ValueError(
                f"idx must be a tensor of token ids of shape (B, T), got {type(idx).__name__}."
            )
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
        # The check costs a GPU sync, so it is skipped inside torch.compile.
        if not _is_compiling():
            V = self.config.vocab_size
            bad = (idx < 0) | (idx >= V)
            if bool(bad.any()):
                offending = int(idx[bad][0])
                raise ValueError(
                    f"token id {offending} is out of range for vocab_size {V} (valid ids are "
                    f"0..{V - 1}); check that the tokenizer matches the model's vocabulary."
                )
        return idx

    def forward(
        self,
        idx: Tensor,
        targets: Tensor | None = None,
        past_kvs: list[KVCache] | None = None,
        use_cache: bool = False,
    ) -> tuple[Tensor, Tensor | None] | tuple[Tensor, Tensor | None, list[KVCache]]:
        """Compute next-token logits (and the loss when ``targets`` are given).

        Args:
            idx: token ids ``(B, T)``, integer dtype, ``0 <= id < vocab_size``.
            targets: optional ``(B, T)`` ids of the token that *follows* each position (already
                shifted by one, unlike Hugging Face's ``labels``); ``-100`` marks positions to
                ignore.
            past_kvs: optional KV cache from a previous call: a list with one ``(k, v)`` per
                layer, each ``(B, nh, T_past, hs)``. ``idx`` then holds only the new tokens and
                their positions continue at ``T_past``.
            use_cache: also return the updated cache.

        Returns:
            ``(logits, loss)``: logits ``(B, T, V)``, loss the mean cross-entropy over all
            non-ignored positions (a scalar) or ``None``. With ``use_cache=True``:
            ``(logits, loss, present_kvs)``, ``present_kvs`` a list of ``n_layer`` pairs
            ``(k, v)``, each ``(B, nh, T_past + T, hs)``.
        """
        past_len = 0
        if past_kvs is not None:
            if len(past_kvs) != self.config.n_layer:
                raise ValueError(
                    f"past_kvs must hold one (k, v) pair per layer ({self.config.n_layer}), got "
                    f"{len(past_kvs)}; pass the present_kvs returned by the previous call."
                )
            past_len = past_kvs[0][0].size(2)
        idx = self._check_idx(idx, past_len)
        B, T = idx.shape
        if targets is not None and tuple(targets.shape) != (B, T):
            raise ValueError(
                f"targets must have the same shape as idx, (B, T) = {(B, T)}, got "
                f"{tuple(targets.shape)}."
            )

        pos = torch.arange(past_len, past_len + T, device=idx.device)  # (T,)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, C) + (T, C) -> (B, T, C)
        present_kvs: list[KVCache] = []
        for i, block in enumerate(self.h):
            past = past_kvs[i] if past_kvs is not None else None
            if use_cache:
                x, kv = block(x, past_kv=past, use_cache=True)
                present_kvs.append(kv)
            else:
                x = block(x, past_kv=past)
        x = self.ln_f(x)
        logits = self.lm_head(x)  # (B, T, V)

        loss = None
        if targets is not None:
            if targets.is_floating_point():
                raise ValueError(f"targets must hold integer token ids, got dtype {targets.dtype}.")
            loss = F.cross_entropy(
                logits.reshape(B * T, -1), targets.reshape(B * T).long(), ignore_index=-100
            )
        if use_cache:
            return logits, loss, present_kvs
        return logits, loss

    # -- sizes and costs ------------------------------------------------------------------------

    def num_params(self, non_embedding: bool = False) -> int:
        """Number of parameters; the tied ``wte``/``lm_head`` matrix is counted once.

        With ``non_embedding=True`` the position embedding ``wpe`` is left out (the token
        embedding stays in because it is also the output layer's weight), the usual convention
        when relating model size to loss or compute.
        """
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.wpe.weight.numel()
        return n

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Approximate training FLOPs (forward + backward) per token, after Kaplan et al. 2020.

        Kaplan et al., "Scaling Laws for Neural Language Models" (2020), Table 1: a forward
        pass costs about ``2 N + 2 n_layer T C`` FLOPs per token — two FLOPs (multiply, add) per
        weight, plus the attention scores of a window of ``T = seq_len`` tokens — and the
        backward pass about twice the forward pass. Hence::

            flops_per_token = 6 * N + 6 * n_layer * seq_len * n_embd

        with ``N = num_params(non_embedding=True)``. Unlike the paper's N this includes the
        token embedding, because here it is also the output layer, whose matmul is not free.
        ``seq_len`` defaults to ``block_size``. (Some codebases count the attention term as
        ``12 * n_layer * seq_len * n_embd``, adding the ``weights @ v`` product; it is small
        next to ``6 N`` unless ``seq_len`` is large compared with ``n_embd``.)
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
        """Shrink the context to ``block_size`` by keeping the first rows of ``wpe``.

        Useful to fine-tune a pretrained model on shorter sequences. Updates ``self.config``.
        """
        if not _is_int(block_size) or not 0 < block_size <= self.config.block_size:
            raise ValueError(
                f"block_size must be an integer in 1..{self.config.block_size} (the current "
                f"block_size; it can only shrink), got {block_size!r}."
            )
        self.wpe.weight = nn.Parameter(self.wpe.weight.detach()[:block_size].clone())
        self.wpe.num_embeddings = block_size
        self.config = dataclasses.replace(self.config, block_size=block_size)

    # -- Hugging Face conversion ----------------------------------------------------------------

    @classmethod
    def from_hf(
        cls,
        model_or_path: GPT2LMHeadModel | str | os.PathLike[str],
        *,
        bias: bool = True,
        dropout: float | None = None,
    ) -> GPT:
        """Build a GPT with the weights of a Hugging Face ``GPT2LMHeadModel``.

        Args:
            model_or_path: a ``transformers.GPT2LMHeadModel``; or the path of a folder written
                by ``save_pretrained`` (read without any network access); or a Hub name such
                as ``"gpt2"`` (``"gpt2-medium"`` ...), read from the local cache first and
                downloaded only when missing and online.
            bias: ``False`` builds a bias-free model; allowed only when every bias of the
                Hugging Face model is zero (as in models exported by :meth:`to_hf` from a
                bias-free GPT).
            dropout: dropout of the new model; default: the Hugging Face ``resid_pdrop``.

        Returns:
            the model in eval mode, float32, on the CPU (move it with ``.to(device)``).

        Raises:
            WeightsNotCachedError: a Hub name whose weights are not cached, while offline.
            NotImplementedError: the Hugging Face config uses a variant of GPT-2 (another
                activation, scale_attn_by_inverse_layer_idx, reorder_and_upcast_attn, ...).
            ValueError: ``bias=False`` but the Hugging Face model has non-zero biases.
        """
        hf_model = _load_hf_model(model_or_path)
        config = _config_from_hf(hf_model.config, bias=bias, dropout=dropout)
        model = cls(config)

        # named_parameters() skips buffers (old checkpoints' attn.bias / attn.masked_bias
        # causal-mask buffers) and lists a tied lm_head.weight only once, as transformer.wte.
        hf_params = dict(hf_model.named_parameters())
        with torch.no_grad():
            for name, param in model.named_parameters():
                hf_name = _hf_name(name)
                if hf_name not in hf_params:
                    raise ValueError(
                        f"the Hugging Face model has no parameter {hf_name!r} (for our {name!r})."
                    )
                src = hf_params.pop(hf_name)
                if _is_conv1d_weight(name):
                    src = src.t()  # Conv1D (in, out) -> Linear (out, in)
                if src.shape != param.shape:
                    raise ValueError(
                        f"shape mismatch for {name}: ours {tuple(param.shape)}, Hugging Face's "
                        f"{tuple(src.shape)} (after transposing Conv1D weights)."
                    )
                param.copy_(src)

            # What is left: an untied lm_head (must equal wte) and, for bias=False, the biases.
            for hf_name, src in hf_params.items():
                if hf_name == "lm_head.weight":
                    if not torch.equal(src.to(model.wte.weight), model.wte.weight):
                        raise NotImplementedError(
                            "the Hugging Face model's lm_head.weight differs from its token "
                            "embedding (untied output layer); this GPT always ties them."
                        )
                elif hf_name.endswith(".bias") and not bias:
                    if bool(torch.any(src != 0)):
                        raise ValueError(
                            f"cannot convert to a bias=False GPT: the Hugging Face parameter "
                            f"{hf_name} is not zero. Use bias=True (the default) to keep the "
                            f"biases."
                        )
                else:
                    raise ValueError(
                        f"unexpected Hugging Face parameter {hf_name!r}; is this a GPT-2 model?"
                    )
        return model.eval()

    def to_hf(self) -> GPT2LMHeadModel:
        """Export to a Hugging Face ``GPT2LMHeadModel`` (float32, CPU, eval mode).

        The result gives the same logits and can be saved with ``save_pretrained(folder)``.
        Hugging Face's GPT-2 always has biases; a ``bias=False`` model exports zeros for them,
        which computes exactly the same function.
        """
        from transformers import GPT2Config, GPT2LMHeadModel

        c = self.config
        hf_config = GPT2Config(
            vocab_size=c.vocab_size,
            n_positions=c.block_size,
            n_embd=c.n_embd,
            n_layer=c.n_layer,
            n_head=c.n_head,
            activation_function="gelu_new",
            layer_norm_epsilon=1e-5,
            resid_pdrop=c.dropout,
            embd_pdrop=c.dropout,
            attn_pdrop=c.dropout,
            # GPT-2's <|endoftext|> is the last id; setting it keeps tiny vocabularies valid.
            bos_token_id=c.vocab_size - 1,
            eos_token_id=c.vocab_size - 1,
            tie_word_embeddings=True,
        )
        hf_model = GPT2LMHeadModel(hf_config)
        ours = dict(self.named_parameters())
        with torch.no_grad():
            for hf_name, hf_param in hf_model.named_parameters():  # tied lm_head listed once
                name = _our_name(hf_name)
                if name in ours:
                    src = ours.pop(name)
                    if _is_conv1d_weight(name):
                        src = src.t()  # Linear (out, in) -> Conv1D (in, out)
                    hf_param.copy_(src)
                elif hf_name.endswith(".bias") and not c.bias:
                    hf_param.zero_()  # a zero bias is the same as no bias
                else:
                    raise RuntimeError(f"no parameter of ours maps to Hugging Face's {hf_name!r}.")
        if ours:
            raise RuntimeError(f"parameters not exported: {sorted(ours)}.")
        return hf_model.eval()
