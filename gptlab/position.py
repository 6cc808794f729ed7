"""Position information for attention (chapter 04): the sinusoidal table of Vaswani et al.
(2017), added to the embeddings, and rotary embeddings (RoPE, Su et al., 2021), which rotate
queries and keys. GPT-2 uses neither: it learns its table (``wpe`` in :mod:`gptlab.model`)."""

import torch
from torch import Tensor


def _check_even_width(name: str, width: int) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or width <= 0 or width % 2:
        raise ValueError(
            f"{name} must be a positive even integer because the channels come in "
            f"(sin, cos) pairs, got {name}={width!r}; use an even width such as 64."
        )


def rope_frequencies(width: int, base: float = 10000.0) -> Tensor:
    """``omega_i = base ** (-2 i / width)``, shape ``(width // 2,)``: channel pair
    ``(2i, 2i + 1)`` turns by ``p * omega_i`` radians at position ``p``."""
    _check_even_width("width", width)
    return base ** (-2.0 * torch.arange(width // 2, dtype=torch.float64) / width)  # i = 0, 1, ...


def sinusoidal_positions(
    T: int, C: int, base: float = 10000.0, dtype: torch.dtype = torch.float32
) -> Tensor:
    """The sinusoidal position encoding, shape ``(T, C)``: ``PE[p, 2i] = sin(p omega_i)`` and
    ``PE[p, 2i + 1] = cos(p omega_i)``, added to token embeddings ``(B, T, C)``.

    Raises ValueError if ``T`` is not a non-negative integer or ``C`` not a positive even one."""
    if isinstance(T, bool) or not isinstance(T, int) or T < 0:
        raise ValueError(f"T must be a non-negative integer (the number of positions), got {T=}.")
    _check_even_width("C", C)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * rope_frequencies(C, base)  # (T, C/2)
    pe = torch.stack([angles.sin(), angles.cos()], dim=-1)  # (T, C/2, 2)
    return pe.reshape(T, C).to(dtype)


def apply_rope(x: Tensor, positions: Tensor | None = None, base: float = 10000.0) -> Tensor:
    """Rotate queries or keys ``x`` ``(..., T, hs)`` by the rotary position embedding.

    Channel pair ``(2i, 2i + 1)`` at position ``positions[t]`` (default ``t``) turns by
    ``p * omega_i``, so ``apply_rope(q)[p] . apply_rope(k)[s]`` depends only on ``s - p``.
    Adjacent channels are paired, as in the paper. Returns the shape and dtype of ``x``;
    raises ValueError for fewer than 2 dimensions, an odd ``hs`` or ``positions`` not ``(T,)``."""
    if x.dim() < 2:
        raise ValueError(f"x must have shape (..., T, hs), got {tuple(x.shape)}.")
    T, hs = x.shape[-2:]
    _check_even_width("hs (the last dimension of x)", hs)
    positions = torch.arange(T, device=x.device) if positions is None else positions
    if positions.shape != (T,):
        what = f"positions must have shape (T,) = ({T},), one position per row of x"
        raise ValueError(f"{what}, got {tuple(positions.shape)}.")
    angles = positions.to(torch.float64)[:, None] * rope_frequencies(hs, base).to(x.device)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)  # (T, hs/2)
    a, b = x.unflatten(-1, (hs // 2, 2)).unbind(-1)  # channels 2i and 2i + 1, each (..., T, hs/2)
    # a 2-d rotation of each pair (a, b) by its angle
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)
