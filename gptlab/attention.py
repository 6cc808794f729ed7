"""Scaled dot-product attention and causal multi-head self-attention.

Shape letters used in every docstring of this module:

- ``B``  batch size
- ``T``  time (number of tokens); ``Tq`` / ``Tk`` when queries and keys differ in length
- ``C``  channels, the embedding width ``n_embd``
- ``nh`` number of attention heads
- ``hs`` head size, ``C // nh``

Two implementations of the same maths live here. :func:`scaled_dot_product_attention` is
written out with ``matmul``, masking and ``softmax`` so that every step can be read and
printed; :class:`MultiHeadAttention` calls PyTorch's fused
:func:`torch.nn.functional.scaled_dot_product_attention` for speed, and its
:meth:`MultiHeadAttention.forward_loop` re-does the computation one head at a time with the
readable version. The tests check that all of them agree.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "MultiHeadAttention",
    "causal_mask",
    "check_head_count",
    "scaled_dot_product_attention",
]

KVCache = tuple[Tensor, Tensor]
"""The cache of one attention layer: ``(k, v)``, each of shape ``(B, nh, T_past, hs)``."""


def causal_mask(T: int, device: torch.device | str | None = None) -> Tensor:
    """Return the ``(T, T)`` boolean mask in which position ``i`` may attend to ``j <= i``.

    ``True`` means "may attend" (the convention of :func:`scaled_dot_product_attention` and of
    PyTorch's ``attn_mask``). The result is lower triangular::

        causal_mask(3) == [[True, False, False],
                           [True, True,  False],
                           [True, True,  True ]]
    """
    if isinstance(T, bool) or not isinstance(T, int) or T < 0:
        raise ValueError(f"causal_mask needs a non-negative integer length, got T={T!r}.")
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def check_head_count(n_embd: int, n_head: int) -> None:
    """Raise ValueError unless ``n_head`` heads can split ``n_embd`` channels evenly."""
    if n_head <= 0 or n_embd <= 0:
        raise ValueError(
            f"n_embd and n_head must be positive, got n_embd={n_embd}, n_head={n_head}."
        )
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
        broadcast = torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        broadcast = None
    if broadcast != scores_shape:
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

    It computes the same thing as :func:`torch.nn.functional.scaled_dot_product_attention`
    (with the same meaning of ``mask`` and ``is_causal``) but in plain PyTorch, so that the
    scores and weights can be inspected.

    Args:
        q: queries, shape ``(..., Tq, hs)``, e.g. ``(B, nh, Tq, hs)``.
        k: keys, shape ``(..., Tk, hs)``.
        v: values, shape ``(..., Tk, hv)`` (usually ``hv == hs``).
        mask: optional, broadcastable to ``(..., Tq, Tk)``. A **bool** mask keeps the scores
            where it is ``True`` ("may attend") and blocks the others; a **float** mask is added
            to the scores (use ``-inf`` to block). A query row that is blocked everywhere gets
            zero weights (and so a zero output), as in PyTorch.
        is_causal: apply the causal mask ``causal_mask`` of shape ``(Tq, Tk)``, aligned at the
            top left like PyTorch's: query ``i`` sees keys ``0..i``. Cannot be combined with
            ``mask``.
        dropout_p: dropout probability applied to the attention weights (0 disables it; pass
            0 at evaluation time, this function does not know about ``model.eval()``).
        scale: factor applied to ``q @ k^T``; default ``1 / sqrt(hs)``.
        return_weights: also return the attention weights (for heat maps).

    Returns:
        ``out`` of shape ``(..., Tq, hv)``, or ``(out, weights)`` with ``weights`` of shape
        ``(..., Tq, Tk)`` (each row sums to 1, or to 0 for a fully blocked row) when
        ``return_weights`` is true.

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

    hs = q.size(-1)
    scale = 1.0 / math.sqrt(hs) if scale is None else scale
    # (..., Tq, hs) @ (..., hs, Tk) -> (..., Tq, Tk): one score per (query, key) pair.
    scores = (q @ k.transpose(-2, -1)) * scale
    Tq, Tk = scores.shape[-2:]

    if is_causal:
        mask = torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).tril()
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


class MultiHeadAttention(nn.Module):
    """Causal multi-head self-attention, laid out like GPT-2's so that weights convert 1:1.

    ``c_attn`` maps each token's ``C`` channels to a query, a key and a value (concatenated in
    that order, ``3 * C`` outputs); they are split into ``nh`` heads of size ``hs = C // nh``,
    each head attends causally on its own, and ``c_proj`` mixes the concatenated heads back
    into ``C`` channels.

    Args:
        n_embd: channels ``C`` of the input and output.
        n_head: number of heads ``nh``; must divide ``n_embd``.
        dropout: dropout on the attention weights and on the output (training mode only).
        bias: whether ``c_attn`` and ``c_proj`` have biases (GPT-2 has them).
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

    def _split_heads(self, t: Tensor) -> Tensor:
        """``(B, T, C)`` -> ``(B, nh, T, hs)``."""
        B, T, _ = t.shape
        return t.view(B, T, self.n_head, self.head_size).transpose(1, 2)

    def _merge_heads(self, t: Tensor) -> Tensor:
        """``(B, nh, T, hs)`` -> ``(B, T, C)`` (heads side by side)."""
        B, _, T, _ = t.shape
        return t.transpose(1, 2).contiguous().view(B, T, self.n_embd)

    def _qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Project ``x`` ``(B, T, C)`` to ``q, k, v``, each ``(B, nh, T, hs)``."""
        if x.dim() != 3 or x.size(-1) != self.n_embd:
            raise ValueError(
                f"expected input of shape (B, T, C) with C = n_embd = {self.n_embd}, got "
                f"{tuple(x.shape)}; add a batch dimension with x.unsqueeze(0) if needed."
            )
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        return self._split_heads(q), self._split_heads(k), self._split_heads(v)

    def forward(
        self, x: Tensor, past_kv: KVCache | None = None, use_cache: bool = False
    ) -> Tensor | tuple[Tensor, KVCache]:
        """Causal self-attention of ``x`` ``(B, T, C)`` -> ``y`` ``(B, T, C)``.

        KV cache (for fast generation): ``past_kv = (k, v)``, each ``(B, nh, T_past, hs)``,
        holds the keys and values of the ``T_past`` tokens that came before ``x``. The ``T``
        new tokens then attend to all cached positions plus, causally, to each other: new
        token ``i`` (absolute position ``T_past + i``) sees keys ``0 .. T_past + i``.

        With ``use_cache=True`` the return value is ``(y, (k_all, v_all))`` where ``k_all`` and
        ``v_all`` are ``(B, nh, T_past + T, hs)`` — pass them as ``past_kv`` in the next call.
        Otherwise it is just ``y``.
        """
        q, k, v = self._qkv(x)
        T = q.size(2)
        if past_kv is not None:
            past_k, past_v = past_kv
            B = q.size(0)
            ok = (
                past_k.dim() == 4
                and past_k.shape == past_v.shape
                and past_k.size(0) == B
                and past_k.size(1) == self.n_head
                and past_k.size(3) == self.head_size
            )
            if not ok:
                raise ValueError(
                    f"past_kv must be (k, v), each of shape (B, nh, T_past, hs) = "
                    f"({q.shape[0]}, {self.n_head}, T_past, {self.head_size}); got "
                    f"{tuple(past_k.shape)} and {tuple(past_v.shape)}."
                )
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        T_past = k.size(2) - T

        dropout_p = self.dropout if self.training else 0.0
        if T_past == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        elif T == 1:
            # A single new token comes after everything in the cache: it may see all keys.
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        else:
            # (T, T_past + T): all cached keys, then the causal triangle among the new ones.
            # PyTorch's is_causal aligns the triangle at the top left, which would be wrong
            # here, so we build the bottom-right-aligned mask ourselves.
            mask = torch.ones(T, T_past + T, dtype=torch.bool, device=x.device)
            mask = mask.tril(diagonal=T_past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)

        y = self.resid_dropout(self.c_proj(self._merge_heads(y)))
        return (y, (k, v)) if use_cache else y

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
