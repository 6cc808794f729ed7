"""Scaled dot-product attention (chapter 03), multi-head attention (04), the KV cache (08).
Shapes: ``B`` batch, ``T`` tokens (``Tq``/``Tk``), ``C`` channels, ``nh`` heads, ``hs = C // nh``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gptlab.utils import check_int, tr


def causal_mask(T: int, device: torch.device | str | None = None) -> Tensor:
    """The ``(T, T)`` lower-triangular bool mask: ``True`` where ``i`` may attend to ``j``."""
    check_int(T, f"causal_mask needs a non-negative integer length, got T={T!r}.", minimum=0)
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def check_head_count(n_embd: int, n_head: int) -> None:
    """Raise ValueError unless ``n_head`` heads can split ``n_embd`` channels evenly."""
    if n_head <= 0 or n_embd <= 0:
        raise ValueError(f"n_embd and n_head must be positive, got {n_embd=}, {n_head=}.")
    if n_embd % n_head != 0:
        valid = [h for h in range(1, n_embd + 1) if n_embd % h == 0]
        raise ValueError(tr(
            "n_embd={n_embd} is not divisible by n_head={n_head}: every head gets "
            "n_embd / n_head channels, which must be a whole number. Valid head counts for "
            "n_embd={n_embd} are {valid}; or change n_embd to a multiple of {n_head}."
        ).format(n_embd=n_embd, n_head=n_head, valid=valid))  # fmt: skip


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    is_causal: bool = False,
    *,
    dropout_p: float = 0.0,
    scale: float | None = None,
    return_weights: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """``softmax(q @ k^T * scale + mask) @ v`` step by step, as PyTorch's fused function.

    ``q`` ``(..., Tq, hs)``, ``k`` ``(..., Tk, hs)``, ``v`` ``(..., Tk, hv)`` -> ``(..., Tq, hv)``,
    and the weights ``(..., Tq, Tk)`` with ``return_weights``. ``mask`` is bool (True = may
    attend) or float (added), broadcast to ``(..., Tq, Tk)``; ``is_causal`` aligns top left;
    a fully blocked row gets zero weights. ``scale`` defaults to ``1 / sqrt(hs)``. ValueError
    for mismatched head sizes or lengths, both ``mask`` and ``is_causal``, or a bad mask.
    """
    if q.dim() < 2 or k.dim() < 2 or v.dim() < 2:
        raise ValueError(
            f"q, k and v need at least 2 dimensions (..., T, hs); got shapes "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}."
        )
    if q.size(-1) != k.size(-1):
        raise ValueError(
            f"head size mismatch: q has head size {q.size(-1)} but k has {k.size(-1)} (shapes "
            f"{tuple(q.shape)} and {tuple(k.shape)}); q @ k^T needs the same last dimension."
        )
    if k.size(-2) != v.size(-2):
        raise ValueError(
            f"length mismatch: k has {k.size(-2)} positions but v has {v.size(-2)} "
            f"(shapes {tuple(k.shape)} and {tuple(v.shape)}); every key needs one value."
        )
    if mask is not None and is_causal:
        raise ValueError(
            "got both mask and is_causal=True; pass only one of them (to combine a causal "
            "mask with your own, use mask=my_mask & causal_mask(T))."
        )

    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale
    if is_causal:
        mask = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).tril()
    if mask is not None:
        if mask.dtype != torch.bool and not mask.is_floating_point():
            raise ValueError(
                f"mask must be a bool tensor (True = may attend) or a float tensor (added to the "
                f"scores), got dtype {mask.dtype}. Convert it with mask.bool() or mask.float()."
            )
        fits = mask.dim() <= scores.dim() and all(  # each trailing size is 1 or the scores'
            m in (1, s) for m, s in zip(mask.shape[::-1], scores.shape[::-1], strict=False)
        )
        if not fits:
            raise ValueError(tr(
                "mask of shape {mask} does not broadcast to the attention scores of shape "
                "{scores} (..., Tq, Tk). Give the mask the shape (Tq, Tk) or a shape that "
                "broadcasts to it, e.g. (B, 1, Tq, Tk)."
            ).format(mask=tuple(mask.shape), scores=tuple(scores.shape)))  # fmt: skip
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask.to(scores.dtype)

    # A row of -inf scores would give 0/0 = NaN; like PyTorch, it gets zero weights.
    blocked_rows = torch.isneginf(scores).all(dim=-1, keepdim=True)
    weights = torch.softmax(scores, dim=-1).masked_fill(blocked_rows, 0.0)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p, training=True)
    out = weights @ v  # (..., Tq, Tk) @ (..., Tk, hv) -> (..., Tq, hv)
    return (out, weights) if return_weights else out


class KVCache:
    """Keys and values of every layer, ``(n_layer, B, nh, max_len, hs)``, allocated once
    (chapter 08). The first ``length`` positions are filled; :meth:`update` writes a layer's new
    ones in place and the last layer's call advances ``length``. ValueError when full."""

    def __init__(
        self,
        n_layer: int,
        batch_size: int,
        n_head: int,
        max_len: int,
        head_size: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        shape = (n_layer, batch_size, n_head, max_len, head_size)
        names = ("n_layer", "batch_size", "n_head", "max_len", "head_size")
        for name, value in zip(names, shape, strict=True):
            check_int(value, f"KVCache {name} must be a positive integer, got {value!r}.")
        self.k = torch.empty(shape, device=device, dtype=dtype)
        self.v = torch.empty(shape, device=device, dtype=dtype)
        self._layers = [(self.k[i], self.v[i]) for i in range(n_layer)]  # per-layer views
        self.max_len = max_len
        self.length = 0

    @classmethod
    def for_model(cls, model: nn.Module, batch_size: int, max_len: int | None = None) -> KVCache:
        """A cache for a GPT, on its device and dtype; ``max_len`` defaults to ``block_size``."""
        c, w = model.config, next(model.parameters())
        shape = (c.n_layer, batch_size, c.n_head, max_len or c.block_size, c.n_embd // c.n_head)
        return cls(*shape, w.device, w.dtype)

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store layer ``layer``'s new ``k, v`` ``(B, nh, T, hs)``; return views of all its keys
        and values, ``(B, nh, length + T, hs)``."""
        k_all, v_all = self._layers[layer]
        if k.shape != v.shape or k.shape[:2] != k_all.shape[:2] or k.size(3) != k_all.size(3):
            raise ValueError(
                f"k and v must have shape (B, nh, T, hs) = ({k_all.size(0)}, {k_all.size(1)}, T, "
                f"{k_all.size(3)}) to fit this cache; got {tuple(k.shape)} and {tuple(v.shape)}."
            )
        T = k.size(2)
        if self.length + T > self.max_len:
            raise ValueError(
                f"the KV cache is full: it holds at most max_len={self.max_len} tokens, has "
                f"{self.length} and was given {T} more. Create a longer cache (KVCache.for_model("
                "model, batch_size, max_len=...)), or start a new one from the last tokens."
            )
        k_all.narrow(2, self.length, T).copy_(k)
        v_all.narrow(2, self.length, T).copy_(v)
        end = self.length + T
        if layer == len(self._layers) - 1:
            self.length = end
        return k_all.narrow(2, 0, end), v_all.narrow(2, 0, end)


class MultiHeadAttention(nn.Module):
    """Causal multi-head self-attention laid out like GPT-2's, ``(B, T, C)`` in and out
    (chapter 04): ``c_attn`` makes q, k, v for ``nh`` heads of ``hs``, ``c_proj`` mixes them."""

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        check_head_count(n_embd, n_head)
        self.n_embd = n_embd
        self.n_head = n_head
        self.head_size = n_embd // n_head
        self.dropout = dropout
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)

    def _qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Project ``x`` ``(B, T, C)`` to ``q, k, v``, each ``(B, nh, T, hs)``."""
        if x.dim() != 3 or x.size(-1) != self.n_embd:
            raise ValueError(
                f"expected input of shape (B, T, C) with C = n_embd = {self.n_embd}, got "
                f"{tuple(x.shape)}; add a batch dimension with x.unsqueeze(0) if needed."
            )
        B, T, _ = x.shape
        qkv = self.c_attn(x).view(B, T, 3, self.n_head, self.head_size)  # q, k, v; head by head
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, nh, T, hs)

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        """``x`` ``(B, T, C)`` -> ``(B, T, C)``. With a cache, ``x`` follows the cached tokens
        and its keys and values are stored as layer ``layer``."""
        q, k, v = self._qkv(x)
        T, past = q.size(2), 0
        if cache is not None:
            past = cache.length
            k, v = cache.update(layer, k, v)  # (B, nh, past + T, hs)
        mask = None  # with no cache: causal; one new token: it may see every key
        if 0 < past and T > 1:  # all cached keys, then the causal triangle, aligned bottom right
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)
        dropout_p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=past == 0
        )
        y = y.transpose(1, 2).reshape(x.shape)  # heads side by side: (B, T, C)
        return self.resid_dropout(self.c_proj(y))

    def forward_loop(
        self, x: Tensor, return_weights: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """:meth:`forward` without a cache, one head at a time with the step-by-step
        :func:`scaled_dot_product_attention`; optionally also the weights ``(B, nh, T, T)``."""
        q, k, v = self._qkv(x)  # each (B, nh, T, hs)
        dropout_p = self.dropout if self.training else 0.0
        heads = [  # per head: out (B, T, hs), weights (B, T, T)
            scaled_dot_product_attention(
                q[:, h], k[:, h], v[:, h], is_causal=True, dropout_p=dropout_p, return_weights=True
            )
            for h in range(self.n_head)
        ]
        y = torch.cat([out for out, _ in heads], dim=-1)  # heads side by side: (B, T, C)
        y = self.resid_dropout(self.c_proj(y))
        return (y, torch.stack([w for _, w in heads], dim=1)) if return_weights else y

    def extra_repr(self) -> str:
        return f"n_embd={self.n_embd}, n_head={self.n_head}, head_size={self.head_size}"
