"""Units of a language model's loss (mean negative log-likelihoods in nats; helpers return the
kind they get, number or tensor) and exact-match scoring of short answers. Chapters 01, 10, 13."""

import math
from collections.abc import Sequence
from typing import TypeVar

import regex
import torch

LN2: float = math.log(2.0)  #: the number of nats in one bit
Number = TypeVar("Number", float, torch.Tensor)
_EDGES = regex.compile(r"^[\p{P}\s]+|[\p{P}\s]+$")  # punctuation or space at either end


def perplexity(loss_nats: Number) -> Number:
    """``exp(loss)`` of a mean loss in nats per token; ValueError if negative or not finite."""
    t = torch.as_tensor(loss_nats, dtype=torch.float64)
    if not torch.isfinite(t).all() or (t < 0).any():
        raise ValueError(f"loss must be finite and >= 0 (a mean NLL in nats), got {loss_nats}")
    return torch.exp(loss_nats) if isinstance(loss_nats, torch.Tensor) else math.exp(loss_nats)


def nats_to_bits(nats: Number) -> Number:
    """A loss in nats in bits: divide by ``ln 2``."""
    return nats / LN2


def per_char_loss(loss_per_token: Number, n_tokens: int, n_chars: int) -> Number:
    """A mean loss per token as a mean loss per character: ``loss * n_tokens / n_chars``."""
    if n_tokens <= 0 or n_chars <= 0:
        raise ValueError(f"n_tokens and n_chars must be positive, got {n_tokens} and {n_chars}")
    return loss_per_token * n_tokens / n_chars


def bits_per_char(
    loss_nats: Number, n_tokens: int | None = None, n_chars: int | None = None
) -> Number:
    """Bits per character of a per-character loss, or of a per-token loss given both counts."""
    if (n_tokens is None) != (n_chars is None):
        raise ValueError("give both n_tokens and n_chars, or neither (for a per-character loss)")
    if n_tokens is not None and n_chars is not None:
        loss_nats = per_char_loss(loss_nats, n_tokens, n_chars)
    return nats_to_bits(loss_nats)


def normalize_answer(text: str) -> str:
    """Case-folded, white space collapsed, punctuation and space stripped at both ends."""
    return _EDGES.sub("", " ".join(text.split()).casefold())


def exact_match(prediction: str, reference: str) -> bool:
    """Whether two answers are equal after :func:`normalize_answer`."""
    return normalize_answer(prediction) == normalize_answer(reference)


def exact_match_rate(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Fraction of predictions that :func:`exact_match` their reference (same order)."""
    if isinstance(predictions, str) or isinstance(references, str):
        raise ValueError("give lists of strings; for one pair use exact_match(pred, ref)")
    if not predictions or len(predictions) != len(references):
        counts = f"{len(predictions)} and {len(references)}"
        raise ValueError(f"need as many references as predictions, at least one (got {counts})")
    return sum(map(exact_match, predictions, references)) / len(predictions)
