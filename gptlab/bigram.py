"""A counting bigram language model: the baseline every later model must beat.

A bigram model predicts the next token from the current one only,

.. math::

    P(x_t \\mid x_{<t}) \\approx P(x_t \\mid x_{t-1}) = \\frac{N(x_{t-1}, x_t) + k}{N(x_{t-1}) + kV},

where ``N(a, b)`` counts how often token ``b`` follows token ``a`` in the training text,
``N(a) = sum_b N(a, b)``, ``V`` is the vocabulary size and ``k >= 0`` is the add-k
(Laplace, for ``k = 1``) smoothing that keeps pairs never seen in training from getting
probability zero. "Training" is counting: the counts are the maximum-likelihood estimate
(``k = 0``), and smoothing pulls every row a little towards the uniform distribution.

Chapter 01 builds this from scratch; this module keeps it::

    model = BigramModel.fit(train_ids, vocab_size=V, smoothing=1.0)
    model.nll(val_ids)                  # average negative log-likelihood, nats per token
    model.sample(torch.Generator().manual_seed(0), 100, start=0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import torch

__all__ = ["BigramModel", "bigram_counts"]

IdsLike = Union[torch.Tensor, Sequence[int]]


def _as_ids(ids: IdsLike, vocab_size: int) -> torch.Tensor:
    """``ids`` as a 1-D int64 tensor, checked against the vocabulary size."""
    t = torch.as_tensor(ids, dtype=torch.long)
    if t.dim() != 1:
        raise ValueError(f"ids must be a 1-D sequence of token ids, got shape {tuple(t.shape)}")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= vocab_size):
        raise ValueError(
            f"token ids must be in 0..{vocab_size - 1} (vocab_size={vocab_size}); "
            f"got values from {int(t.min())} to {int(t.max())}"
        )
    return t


def bigram_counts(ids: IdsLike, vocab_size: int) -> torch.Tensor:
    """Count adjacent pairs: ``counts[a, b]`` = how often id ``b`` directly follows id ``a``.

    Each pair ``(a, b)`` gets the single number ``a * V + b``, so one ``torch.bincount``
    over those numbers counts every pair at once.

    Args:
        ids: the token stream, shape ``(N,)``.
        vocab_size: ``V``.

    Returns:
        an int64 tensor of shape ``(V, V)`` whose entries sum to ``N - 1``.
    """
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    t = _as_ids(ids, vocab_size)
    pair_index = t[:-1] * vocab_size + t[1:]  # (N-1,)
    return torch.bincount(pair_index, minlength=vocab_size * vocab_size).view(vocab_size, vocab_size)


class BigramModel:
    """A bigram model with add-k smoothing, held as a ``(V, V)`` table of counts.

    Build one with :meth:`fit`. Row ``a`` of :attr:`probs` is the distribution of the next
    token after token ``a``; every row sums to 1. Rows of tokens never seen in training
    (all counts zero) are uniform whatever the smoothing.

    Attributes:
        counts: int64 ``(V, V)`` pair counts from the training text.
        smoothing: ``k``, added to every count before normalising.
    """

    def __init__(self, counts: torch.Tensor, smoothing: float = 1.0) -> None:
        if counts.dim() != 2 or counts.shape[0] != counts.shape[1]:
            raise ValueError(f"counts must be a square (V, V) tensor, got shape {tuple(counts.shape)}")
        if smoothing < 0:
            raise ValueError(f"smoothing must be >= 0, got {smoothing}")
        self.counts: torch.Tensor = counts.to(torch.long)
        self.smoothing: float = float(smoothing)
        smoothed = self.counts.to(torch.float64) + self.smoothing  # (V, V)
        totals = smoothed.sum(dim=1, keepdim=True)  # (V, 1)
        empty = totals.squeeze(1) == 0  # only possible when smoothing == 0
        smoothed[empty] = 1.0
        totals[empty] = float(self.vocab_size)
        self._probs64 = smoothed / totals  # (V, V), float64

    @classmethod
    def fit(cls, ids: IdsLike, vocab_size: int, smoothing: float = 1.0) -> BigramModel:
        """Count the pairs in ``ids`` (shape ``(N,)``) and return the smoothed model."""
        return cls(bigram_counts(ids, vocab_size), smoothing=smoothing)

    def with_smoothing(self, smoothing: float) -> BigramModel:
        """The same counts with a different ``k`` (no recounting)."""
        return BigramModel(self.counts, smoothing=smoothing)

    @property
    def vocab_size(self) -> int:
        """``V``, the number of token ids."""
        return int(self.counts.shape[0])

    @property
    def probs(self) -> torch.Tensor:
        """``P(next = b | current = a)`` as a float32 ``(V, V)`` tensor; rows sum to 1."""
        return self._probs64.to(torch.float32)

    @property
    def log_probs(self) -> torch.Tensor:
        """Natural log of :attr:`probs`, float32 ``(V, V)`` (``-inf`` where a probability is 0)."""
        return self._probs64.log().to(torch.float32)

    def nll(self, ids: IdsLike) -> float:
        """Average negative log-likelihood of ``ids`` in nats per predicted token.

        The first token has no predecessor, so ``N`` ids give ``N - 1`` predictions:
        ``-(1 / (N-1)) * sum_t ln P(x_t | x_{t-1})``. This is the cross-entropy loss
        used for every model in the course. With ``smoothing=0`` a pair never seen in
        training has probability 0, and the result is ``inf``.

        Raises:
            ValueError: if fewer than 2 ids are given.
        """
        t = _as_ids(ids, self.vocab_size)
        if t.numel() < 2:
            raise ValueError("need at least 2 token ids to score a next-token prediction")
        logp = self._probs64.log()[t[:-1], t[1:]]  # (N-1,)
        return float(-logp.mean())

    def sample(self, generator: torch.Generator, num_tokens: int, start: int = 0) -> list[int]:
        """Draw ``num_tokens`` ids one after the other, each from the row of the previous one.

        ``start`` is the id the chain starts from; it is not part of the result. With the same
        seeded ``generator`` the result is always the same.
        """
        if not 0 <= start < self.vocab_size:
            raise ValueError(f"start must be a token id in 0..{self.vocab_size - 1}, got {start}")
        probs = self.probs
        out: list[int] = []
        current = int(start)
        for _ in range(num_tokens):
            current = int(torch.multinomial(probs[current], 1, generator=generator))
            out.append(current)
        return out

    def __repr__(self) -> str:
        return f"BigramModel(vocab_size={self.vocab_size}, smoothing={self.smoothing:g})"
