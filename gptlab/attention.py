"""Scaled dot-product attention, causal multi-head self-attention and the KV cache.

Shape letters: ``B`` batch, ``T`` tokens (``Tq`` / ``Tk`` for queries / keys), ``C`` channels
(``n_embd``), ``nh`` heads, ``hs`` head size ``C // nh``.

:func:`scaled_dot_product_attention` writes the maths out step by step (chapter 03);
:class:`MultiHeadAttention` calls PyTorch's fused kernel for speed, and its
:meth:`~MultiHeadAttention.forward_loop` recomputes it one head at a time with the readable
version (chapter 04). :class:`KVCache` stores keys and values for generation (chapter 08).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "KVCache",
    "MultiHeadAttention",
    "causal_mask",
    "check_head_count",
    "scaled_dot_product_attention",
]


def causal_mask(T: int, device: torch.device | str | None = None) -> Tensor:
    """The ``(T, T)`` bool mask in which position ``i`` may attend to ``j <= i`` (chapter 03).

    ``True`` means "may attend", as in PyTorch's ``attn_mask``; the mask is lower triangular.
    """
    if isinstance(T, bool) or not isinstance(T, int) or T < 0:
        raise ValueError(f"causal_mask needs a non-negative integer length, got T={T!r}.")
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def check_head_count(n_embd: int, n_head: int) -> None:
    """Raise ValueError unless ``n_head`` heads can split ``n_embd`` channels evenly."""
    if n_head <= 0 or n_embd <= 0:
        raise ValueError(f"n_embd and n_head must be positive, got {n_embd=}, {n_head=}.")
    if n_embd % n_head != 0:
        valid = [h for h in range(1, n_embd + 1) if n_embd % h == 0]
        raise ValueError(
            f"n_embd={n_embd} is not divisible by n_head={n_head}: every head gets "
            f"n_embd / n_head channels, which must be a whole number. Valid head counts for "
            f"n_embd={n_embd} are {valid}; or change n_embd to a multiple of {n_head}."
        )


def _check_mask(mask: Tensor, scores_shape: torch.Size) -> None:
    """Raise ValueError unless ``mask`` is bool/float and broadcasts to ``scores_shape``."""
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise ValueError(
            f"mask must be a bool tensor (True = may attend) or a float tensor (added to the "
            f"scores), got dtype {mask.dtype}. Convert it with mask.bool() or mask.float()."
        )
    try:
        ok = torch.broadcast_shapes(mask.shape, scores_shape) == scores_shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the attention scores of "
            f"shape {tuple(scores_shape)} (..., Tq, Tk). Give the mask the shape (Tq, Tk) or a "
            f"shape that broadcasts to it, e.g. (B, 1, Tq, Tk)."
        )


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
    """Attention written out step by step: ``softmax(q @ k^T / sqrt(hs) + mask) @ v``.

    The same as :func:`torch.nn.functional.scaled_dot_product_attention`, in plain PyTorch so
    that scores and weights can be inspected (chapter 03).

    Args:
        q, k, v: queries ``(..., Tq, hs)``, keys ``(..., Tk, hs)``, values ``(..., Tk, hv)``.
        mask: optional, broadcastable to ``(..., Tq, Tk)``: **bool** (``True`` = may attend)
            or **float** (added to the scores, ``-inf`` blocks). A query row blocked
            everywhere gets zero weights, as in PyTorch.
        is_causal: apply the causal mask ``(Tq, Tk)``, aligned top left like PyTorch's (query
            ``i`` sees keys ``0..i``); not together with ``mask``.
        dropout_p: dropout on the weights (this function does not know ``model.eval()``).
        scale: factor applied to ``q @ k^T``; default ``1 / sqrt(hs)``.
        return_weights: also return the weights ``(..., Tq, Tk)`` (for heat maps).

    Returns:
        ``out`` ``(..., Tq, hv)``, or ``(out, weights)``.

    Raises:
        ValueError: head sizes of ``q`` and ``k`` differ, ``k`` and ``v`` have different
            lengths, ``mask`` and ``is_causal`` are both given, or ``mask`` does not broadcast.
    """
    if q.dim() < 2 or k.dim() < 2 or v.dim() < 2:
        raise ValueError(
            f"q, k and v need at least 2 dimensions (..., T, hs); got shapes "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}."
        )
    if q.size(-1) != k.size(-1):
        raise ValueError(
            f"head size mismatch: q has head size {q.size(-1)} but k has {k.size(-1)} "
            f"(last dimensions of shapes {tuple(q.shape)} and {tuple(k.shape)}); queries and "
            f"keys must have the same last dimension to be multiplied."
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
    # (..., Tq, hs) @ (..., hs, Tk) -> (..., Tq, Tk): one score per (query, key) pair.
    scores = (q @ k.transpose(-2, -1)) * scale
    if is_causal:
        mask = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).tril()
    if mask is not None:
        _check_mask(mask, scores.shape)
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask.to(scores.dtype)

    # A row in which every score is -inf would give 0/0 = NaN in softmax; like PyTorch we
    # give such a row zero weights instead (the query attends to nothing).
    blocked_rows = torch.isneginf(scores).all(dim=-1, keepdim=True)
    weights = torch.softmax(scores, dim=-1).masked_fill(blocked_rows, 0.0)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p, training=True)
    out = weights @ v  # (..., Tq, Tk) @ (..., Tk, hv) -> (..., Tq, hv)
    return (out, weights) if return_weights else out


class KVCache:
    """The keys and values of every layer, allocated once, for fast generation (chapter 08).

    ``k`` and ``v`` have shape ``(n_layer, B, nh, max_len, hs)``; the first ``length``
    positions hold the tokens seen so far. Attention layer ``i`` calls :meth:`update`, which
    writes its ``T`` new keys and values at positions ``length .. length + T - 1`` and returns
    views of positions ``0 .. length + T - 1``; the call of the last layer advances ``length``.
    Nothing is ever re-allocated or concatenated.

    Raises:
        ValueError: a size is not a positive integer, or more than ``max_len`` tokens are
            stored (see :meth:`check_room`).
    """

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
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"KVCache {name} must be a positive integer, got {value!r}.")
        self.k = torch.empty(shape, device=device, dtype=dtype)
        self.v = torch.empty(shape, device=device, dtype=dtype)
        self._layers = [(self.k[i], self.v[i]) for i in range(n_layer)]  # per-layer views
        self.length = 0

    @classmethod
    def for_model(cls, model: nn.Module, batch_size: int, max_len: int | None = None) -> KVCache:
        """A cache for ``model`` (a GPT) on its device and dtype; ``max_len`` default
        ``block_size``."""
        c, w = model.config, next(model.parameters())
        return cls(
            c.n_layer, batch_size, c.n_head, max_len or c.block_size, c.head_size, w.device, w.dtype
        )

    @property
    def max_len(self) -> int:
        """The most tokens the cache can hold."""
        return self.k.size(3)

    def reset(self) -> None:
        """Forget the stored tokens (the memory is kept and reused)."""
        self.length = 0

    def check_room(self, T: int) -> None:
        """Raise ValueError unless ``T`` more tokens fit."""
        if self.length + T > self.max_len:
            raise ValueError(
                f"the KV cache is full: it holds at most max_len={self.max_len} tokens, has "
                f"{self.length} and was given {T} more. Create a longer cache "
                f"(KVCache.for_model(model, batch_size, max_len=...)), or call cache.reset() "
                f"and start again from the last tokens."
            )

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store layer ``layer``'s new ``k, v`` ``(B, nh, T, hs)``; return all its keys and
        values so far, views of shape ``(B, nh, length + T, hs)``."""
        k_all, v_all = self._layers[layer]
        if k.shape != v.shape or k.shape[:2] != k_all.shape[:2] or k.size(3) != k_all.size(3):
            raise ValueError(
                f"k and v must both have shape (B, nh, T, hs) = ({k_all.size(0)}, "
                f"{k_all.size(1)}, T, {k_all.size(3)}) to fit this cache; got {tuple(k.shape)} "
                f"and {tuple(v.shape)}."
            )
        T = k.size(2)
        self.check_room(T)
        k_all.narrow(2, self.length, T).copy_(k)
        v_all.narrow(2, self.length, T).copy_(v)
        end = self.length + T
        if layer == len(self._layers) - 1:
            self.length = end
        return k_all.narrow(2, 0, end), v_all.narrow(2, 0, end)


class MultiHeadAttention(nn.Module):
    """Causal multi-head self-attention laid out like GPT-2's (chapter 04): ``(B, T, C)`` in
    and out.

    ``c_attn`` maps each token's ``C`` channels to a query, a key and a value (``3 * C``
    outputs), split into ``nh = n_head`` heads of ``hs = C // nh``; each head attends causally
    on its own and ``c_proj`` mixes the heads back into ``C`` channels. ``dropout`` acts on the
    attention weights and the output in training mode; ``bias`` gives the layers biases.
    """

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
        """Causal self-attention of ``x`` ``(B, T, C)`` -> ``y`` ``(B, T, C)``.

        With a :class:`KVCache`, ``x`` holds the ``T`` tokens that follow the ``cache.length``
        cached ones: their keys and values are stored as layer ``layer`` of the cache, and new
        token ``i`` (position ``cache.length + i``) attends to keys ``0 .. cache.length + i``.
        """
        q, k, v = self._qkv(x)
        T, past = q.size(2), 0
        if cache is not None:
            past = cache.length
            k, v = cache.update(layer, k, v)  # (B, nh, past + T, hs)
        dropout_p = self.dropout if self.training else 0.0
        if past == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        elif T == 1:  # one new token after the whole cache: it may see every key, no mask
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        else:  # all cached keys, then the causal triangle, aligned bottom right
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        y = y.transpose(1, 2).reshape(x.shape)  # heads side by side: (B, T, C)
        return self.resid_dropout(self.c_proj(y))

    def forward_loop(
        self, x: Tensor, return_weights: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """The same computation as :meth:`forward` (no cache), one head at a time.

        Written for reading, not for speed: a Python loop over the ``nh`` heads, each calling
        the step-by-step :func:`scaled_dot_product_attention` on ``(B, T, hs)`` slices.

        Args:
            x: input of shape ``(B, T, C)``.
            return_weights: also return the attention weights ``(B, nh, T, T)``.

        Returns:
            ``y`` of shape ``(B, T, C)``, or ``(y, weights)``.
        """
        q, k, v = self._qkv(x)  # each (B, nh, T, hs)
        dropout_p = self.dropout if self.training else 0.0
        head_outputs, head_weights = [], []
        for h in range(self.n_head):
            out_h, w_h = scaled_dot_product_attention(
                q[:, h], k[:, h], v[:, h], is_causal=True, dropout_p=dropout_p, return_weights=True
            )  # out_h: (B, T, hs), w_h: (B, T, T)
            head_outputs.append(out_h)
            head_weights.append(w_h)
        y = torch.cat(head_outputs, dim=-1)  # heads side by side: (B, T, nh * hs) = (B, T, C)
        y = self.resid_dropout(self.c_proj(y))
        if return_weights:
            return y, torch.stack(head_weights, dim=1)
        return y

    def extra_repr(self) -> str:
        return f"n_embd={self.n_embd}, n_head={self.n_head}, head_size={self.head_size}"
