"""Position information for attention: sinusoidal encodings and rotary embeddings (RoPE).

Attention on its own cannot see word order (chapter 04 shows that it is permutation
equivariant), so a transformer has to be told where each token sits. This module keeps the
two fixed (parameter-free) schemes that chapter 04 builds from scratch:

- :func:`sinusoidal_positions`, the table of sines and cosines of Vaswani et al. (2017) that
  is *added* to the token embeddings;
- :func:`apply_rope`, the rotary position embedding of Su et al. (2021), which *rotates*
  queries and keys so that their dot product depends only on the offset between positions.

GPT-2 itself uses neither: it learns its position table (``wpe`` in :mod:`gptlab.model`, an
``nn.Embedding(block_size, C)``).

Shape letters: ``T`` number of positions, ``C`` channels, ``hs`` head size.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["apply_rope", "rope_frequencies", "sinusoidal_positions"]


def _check_even_width(name: str, width: int) -> None:
    """Raise ValueError unless ``width`` is a positive even integer."""
    if isinstance(width, bool) or not isinstance(width, int) or width <= 0 or width % 2:
        raise ValueError(
            f"{name} must be a positive even integer because the channels come in "
            f"(sin, cos) pairs, got {name}={width!r}; use an even width such as 64."
        )


def rope_frequencies(width: int, base: float = 10000.0) -> Tensor:
    """The angular frequencies ``omega_i = base ** (-2 i / width)``, shape ``(width // 2,)``.

    Channel pair ``(2i, 2i + 1)`` turns by ``p * omega_i`` radians at position ``p``;
    ``omega_0 = 1`` is the fastest. Used by :func:`sinusoidal_positions` and :func:`apply_rope`.
    """
    _check_even_width("width", width)
    i = torch.arange(width // 2, dtype=torch.float64)
    return base ** (-2.0 * i / width)


def sinusoidal_positions(
    T: int, C: int, base: float = 10000.0, dtype: torch.dtype = torch.float32
) -> Tensor:
    """The sinusoidal position encoding of Vaswani et al. (2017), shape ``(T, C)``.

    Row ``p`` is the encoding of position ``p``; its channels are interleaved sine/cosine pairs::

        PE[p, 2i]     = sin(p / base ** (2i / C))
        PE[p, 2i + 1] = cos(p / base ** (2i / C))

    Add it to token embeddings ``(B, T, C)``: ``x = tok_emb + sinusoidal_positions(T, C)``.

    Raises:
        ValueError: ``T`` is negative or not an integer, or ``C`` is not a positive even integer.
    """
    if isinstance(T, bool) or not isinstance(T, int) or T < 0:
        raise ValueError(f"T must be a non-negative integer (the number of positions), got {T=}.")
    _check_even_width("C", C)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * rope_frequencies(C, base)  # (T, C/2)
    pe = torch.stack([angles.sin(), angles.cos()], dim=-1)  # (T, C/2, 2): (sin, cos) per pair
    return pe.reshape(T, C).to(dtype)


def apply_rope(x: Tensor, positions: Tensor | None = None, base: float = 10000.0) -> Tensor:
    """Rotate ``x`` of shape ``(..., T, hs)`` by the rotary position embedding (Su et al., 2021).

    Channel pair ``(2i, 2i + 1)`` of the vector at position ``p`` is turned by the angle
    ``p * omega_i`` (see :func:`rope_frequencies`). Apply it to queries and keys (not values)
    after the projections: the score ``apply_rope(q)[p] . apply_rope(k)[s]`` then depends on
    the positions only through the offset ``s - p``.

    This pairs *adjacent* channels, as in the RoFormer paper; some libraries pair channel
    ``i`` with ``i + hs/2`` instead, which is the same idea with the channels permuted.

    Args:
        x: queries or keys, shape ``(..., T, hs)`` with ``hs`` even, e.g. ``(B, nh, T, hs)``.
        positions: the position of each of the ``T`` rows, shape ``(T,)``; default ``0..T-1``.
        base: the frequency base (10000 as in the paper).

    Returns:
        a tensor of the same shape and dtype as ``x``.

    Raises:
        ValueError: ``x`` has fewer than 2 dimensions, an odd last dimension, or ``positions``
            does not have shape ``(T,)``.
    """
    if x.dim() < 2:
        raise ValueError(f"x must have shape (..., T, hs), got {tuple(x.shape)}.")
    T, hs = x.shape[-2:]
    _check_even_width("hs (the last dimension of x)", hs)
    if positions is None:
        positions = torch.arange(T, device=x.device)
    if positions.shape != (T,):
        raise ValueError(
            f"positions must have shape (T,) = ({T},), one position per row of x, got "
            f"{tuple(positions.shape)}."
        )
    omega = rope_frequencies(hs, base).to(x.device)
    angles = positions.to(torch.float64)[:, None] * omega  # (T, hs/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    pairs = x.unflatten(-1, (hs // 2, 2))  # (..., T, hs/2, 2)
    a, b = pairs[..., 0], pairs[..., 1]
    # A 2-d rotation by theta: (a, b) -> (a cos theta - b sin theta, a sin theta + b cos theta).
    rotated = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1)
    return rotated.flatten(-2)
