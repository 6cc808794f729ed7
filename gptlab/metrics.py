"""Units for a language model's loss: nats, bits, perplexity, per token and per character.

A language model is scored by its average negative log-likelihood on text it has not seen,

.. math::

    L = -\\frac{1}{N} \\sum_{t=1}^{N} \\ln P_\\theta(x_t \\mid x_{<t}),

the *cross-entropy* between the text and the model, measured in **nats** because PyTorch's
``cross_entropy`` uses the natural logarithm. The same number is often reported in other
units; the helpers here convert between them:

- :func:`perplexity`: ``exp(L)``, the size of a uniform choice that would be as surprising;
- :func:`nats_to_bits`: ``L / ln 2``, the same loss with base-2 logarithms;
- :func:`per_char_loss`: a loss per *token* turned into a loss per *character*, so that
  models with different tokenizers can be compared on the same text;
- :func:`bits_per_char`: both steps at once (the usual unit for character-level models).

Every function accepts a Python number or a tensor and returns the same kind.
"""

from __future__ import annotations

import math
from typing import TypeVar, Union

import torch

__all__ = ["LN2", "bits_per_char", "nats_to_bits", "per_char_loss", "perplexity"]

#: ``ln 2``: the number of nats in one bit.
LN2: float = math.log(2.0)

Number = TypeVar("Number", float, torch.Tensor)


def _check_finite_loss(loss: Union[float, torch.Tensor], what: str = "loss") -> None:
    if isinstance(loss, torch.Tensor):
        if not torch.isfinite(loss).all() or (loss < 0).any():
            raise ValueError(f"{what} must be finite and >= 0 (an average negative log-likelihood)")
    else:
        value = float(loss)
        if not math.isfinite(value) or value < 0:
            raise ValueError(
                f"{what} must be finite and >= 0 (an average negative log-likelihood), got {value}"
            )


def perplexity(loss_nats: Number) -> Number:
    """Perplexity ``exp(loss)`` of an average loss in nats (per token).

    A model with perplexity 20 is, on average, as unsure as if it picked uniformly among 20
    tokens. The uniform model over ``V`` tokens has loss ``ln V`` and perplexity ``V``.

    Example::

        >>> round(perplexity(math.log(65)), 6)
        65.0

    Raises:
        ValueError: if the loss is negative or not finite.
    """
    _check_finite_loss(loss_nats)
    if isinstance(loss_nats, torch.Tensor):
        return torch.exp(loss_nats)
    return math.exp(float(loss_nats))


def nats_to_bits(nats: Number) -> Number:
    """Convert a loss from nats (natural log) to bits (log base 2): divide by ``ln 2``."""
    return nats / LN2


def per_char_loss(loss_per_token: Number, n_tokens: int, n_chars: int) -> Number:
    """Turn an average loss per token into an average loss per character of the same text.

    The total loss of the text is ``loss_per_token * n_tokens`` whatever the unit; sharing it
    out over the ``n_chars`` characters gives ``loss_per_token * n_tokens / n_chars``. With
    a tokenizer that packs about 4 characters into a token, the loss per character is
    about a quarter of the loss per token.

    Raises:
        ValueError: if ``n_tokens`` or ``n_chars`` is not positive.
    """
    if n_tokens <= 0 or n_chars <= 0:
        raise ValueError(f"n_tokens and n_chars must be positive, got {n_tokens} and {n_chars}")
    return loss_per_token * n_tokens / n_chars


def bits_per_char(loss_nats: Number, n_tokens: int | None = None, n_chars: int | None = None) -> Number:
    """Bits per character: an average loss in nats, converted to bits per character.

    For a character-level model the loss is already per character: ``bits_per_char(loss)``.
    For a model whose tokens are longer, pass the number of tokens and characters of the
    evaluated text: ``bits_per_char(loss_per_token, n_tokens, n_chars)``.

    Raises:
        ValueError: if only one of ``n_tokens`` and ``n_chars`` is given.
    """
    if (n_tokens is None) != (n_chars is None):
        raise ValueError("give both n_tokens and n_chars, or neither (for a per-character loss)")
    if n_tokens is not None and n_chars is not None:
        loss_nats = per_char_loss(loss_nats, n_tokens, n_chars)
    return nats_to_bits(loss_nats)
