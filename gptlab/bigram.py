"""A counting bigram language model, the baseline every later model must beat (chapter 01):
``P(x_t | x_{t-1}) = (N(x_{t-1}, x_t) + k) / (N(x_{t-1}) + kV)`` (add-k smoothing)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

IdsLike = torch.Tensor | Sequence[int]


def _as_ids(ids: IdsLike, vocab_size: int) -> torch.Tensor:
    """``ids`` as a 1-D int64 tensor, checked against the vocabulary size."""
    t = torch.as_tensor(ids, dtype=torch.long)
    if t.dim() != 1:
        raise ValueError(f"ids must be a 1-D sequence of token ids, got shape {tuple(t.shape)}")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= vocab_size):
        valid = f"token ids must be in 0..{vocab_size - 1} (vocab_size={vocab_size})"
        raise ValueError(f"{valid}; got values from {int(t.min())} to {int(t.max())}")
    return t


def bigram_counts(ids: IdsLike, vocab_size: int) -> torch.Tensor:
    """``counts[a, b]``: how often ``b`` directly follows ``a`` in ``ids`` ``(N,)``; an int64
    ``(V, V)`` tensor summing to ``N - 1``."""
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    t = _as_ids(ids, vocab_size)
    pairs = torch.bincount(t[:-1] * vocab_size + t[1:], minlength=vocab_size * vocab_size)
    return pairs.view(vocab_size, vocab_size)


class BigramModel:
    """Add-k smoothed bigram model of a ``(V, V)`` table of :attr:`counts` (see :meth:`fit`);
    a token never seen gets a uniform row of :attr:`probs` whatever the smoothing."""

    def __init__(self, counts: torch.Tensor, smoothing: float = 1.0) -> None:
        shape = tuple(counts.shape)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"counts must be a square (V, V) tensor, got shape {shape}")
        if smoothing < 0:
            raise ValueError(f"smoothing must be >= 0, got {smoothing}")
        self.counts: torch.Tensor = counts.to(torch.long)
        self.vocab_size: int = shape[0]
        self.smoothing: float = float(smoothing)
        smoothed = self.counts.to(torch.float64) + self.smoothing  # (V, V)
        totals = smoothed.sum(dim=1, keepdim=True)  # (V, 1), 0 for an unseen token when k = 0
        self._probs64 = torch.where(totals > 0, smoothed / totals, 1.0 / self.vocab_size)

    @classmethod
    def fit(cls, ids: IdsLike, vocab_size: int, smoothing: float = 1.0) -> BigramModel:
        """Count the pairs in ``ids`` ``(N,)`` and return the smoothed model."""
        return cls(bigram_counts(ids, vocab_size), smoothing=smoothing)

    def with_smoothing(self, smoothing: float) -> BigramModel:
        """The same counts with a different ``k`` (no recounting)."""
        return BigramModel(self.counts, smoothing=smoothing)

    @property
    def probs(self) -> torch.Tensor:
        """``P(next = b | current = a)``, float32 ``(V, V)``."""
        return self._probs64.to(torch.float32)

    @property
    def log_probs(self) -> torch.Tensor:
        """Natural log of :attr:`probs`, float32 ``(V, V)`` (``-inf`` where it is 0)."""
        return self._probs64.log().to(torch.float32)

    def nll(self, ids: IdsLike) -> float:
        """Mean negative log-likelihood in nats of the ``N - 1`` predictions in ``ids`` (``inf``
        for an unseen pair when ``smoothing=0``); ValueError for fewer than 2 ids."""
        t = _as_ids(ids, self.vocab_size)
        if t.numel() < 2:
            raise ValueError("need at least 2 token ids to score a next-token prediction")
        return float(-self._probs64.log()[t[:-1], t[1:]].mean())

    def sample(self, generator: torch.Generator, num_tokens: int, start: int = 0) -> list[int]:
        """``num_tokens`` ids, each drawn from the row of the one before, after ``start``."""
        if not 0 <= start < self.vocab_size:
            raise ValueError(f"start must be a token id in 0..{self.vocab_size - 1}, got {start}")
        probs, out = self.probs, [int(start)]
        for _ in range(num_tokens):
            out.append(int(torch.multinomial(probs[out[-1]], 1, generator=generator)))
        return out[1:]

    def __repr__(self) -> str:
        return f"BigramModel(vocab_size={self.vocab_size}, smoothing={self.smoothing:g})"
