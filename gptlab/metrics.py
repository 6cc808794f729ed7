"""Units of a language model's loss, and exact-match scoring of short answers.

The loss is the mean negative log-likelihood of held-out text, in **nats** (PyTorch's
``cross_entropy`` uses the natural log); chapter 01 explains each unit and chapter 13 uses
them to compare models with different tokenizers. Loss helpers accept a Python number or a
tensor and return the same kind. :func:`normalize_answer` and :func:`exact_match` are the
one answer comparison of the course (chapters 10 and 13).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

import regex
import torch

__all__ = [
    "LN2", "bits_per_char", "exact_match", "exact_match_rate", "nats_to_bits", "normalize_answer",
    "per_char_loss", "perplexity",
]  # fmt: skip

#: ``ln 2``: the number of nats in one bit.
LN2: float = math.log(2.0)

Number = TypeVar("Number", float, torch.Tensor)


def perplexity(loss_nats: Number) -> Number:
    """``exp(loss)`` of a mean loss in nats per token; the uniform model over V tokens gives V.

    Raises:
        ValueError: if the loss is negative or not finite.
    """
    t = torch.as_tensor(loss_nats, dtype=torch.float64)
    if not torch.isfinite(t).all() or (t < 0).any():
        raise ValueError(
            f"loss must be finite and >= 0 (a mean negative log-likelihood), got {loss_nats}"
        )
    return torch.exp(loss_nats) if isinstance(loss_nats, torch.Tensor) else math.exp(loss_nats)


def nats_to_bits(nats: Number) -> Number:
    """A loss in nats (natural log) in bits (log base 2): divide by ``ln 2``."""
    return nats / LN2


def per_char_loss(loss_per_token: Number, n_tokens: int, n_chars: int) -> Number:
    """A mean loss per token as a mean loss per character of the same text.

    The text's total loss ``loss_per_token * n_tokens`` is shared out over ``n_chars``.

    Raises:
        ValueError: if ``n_tokens`` or ``n_chars`` is not positive.
    """
    if n_tokens <= 0 or n_chars <= 0:
        raise ValueError(f"n_tokens and n_chars must be positive, got {n_tokens} and {n_chars}")
    return loss_per_token * n_tokens / n_chars


def bits_per_char(
    loss_nats: Number, n_tokens: int | None = None, n_chars: int | None = None
) -> Number:
    """Bits per character: ``bits_per_char(loss)`` for a per-character loss, or
    ``bits_per_char(loss_per_token, n_tokens, n_chars)`` for longer tokens.

    Raises:
        ValueError: if only one of ``n_tokens`` and ``n_chars`` is given.
    """
    if (n_tokens is None) != (n_chars is None):
        raise ValueError("give both n_tokens and n_chars, or neither (for a per-character loss)")
    if n_tokens is not None and n_chars is not None:
        loss_nats = per_char_loss(loss_nats, n_tokens, n_chars)
    return nats_to_bits(loss_nats)


_EDGES = regex.compile(r"^[\p{P}\s]+|[\p{P}\s]+$")


def normalize_answer(text: str) -> str:
    """An answer reduced to what exact match compares.

    Case-folded, runs of white space collapsed to one space, and punctuation and space at
    both ends removed (any Unicode punctuation: quotes, full stops, brackets, dashes), so
    ``'"Macbeth."'`` becomes ``"macbeth"``. Punctuation inside (``"Lady Macbeth's"``) stays.
    """
    return _EDGES.sub("", " ".join(text.split()).casefold())


def exact_match(prediction: str, reference: str) -> bool:
    """Whether two answers are equal after :func:`normalize_answer`."""
    return normalize_answer(prediction) == normalize_answer(reference)


def exact_match_rate(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Fraction of predictions that :func:`exact_match` their reference (same order).

    Raises:
        ValueError: empty lists, lists of different lengths, or a string instead of a list.
    """
    if isinstance(predictions, str) or isinstance(references, str):
        raise ValueError(
            "give lists of strings; for one pair use exact_match(prediction, reference)"
        )
    if not predictions or len(predictions) != len(references):
        raise ValueError(
            f"need as many references as predictions, at least one "
            f"(got {len(predictions)} and {len(references)})"
        )
    hits = sum(exact_match(p, r) for p, r in zip(predictions, references, strict=True))
    return hits / len(predictions)
