"""A counting bigram language model: the baseline every later model must beat (chapter 01).

``P(x_t | x_{t-1}) = (N(x_{t-1}, x_t) + k) / (N(x_{t-1}) + kV)``: pair counts from the
training text with add-k smoothing (Laplace for ``k = 1``), so unseen pairs keep some
probability. ``BigramModel.fit(train_ids, vocab_size=V).nll(val_ids)`` gives nats per token.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["BigramModel", "bigram_counts"]

IdsLike = torch.Tensor | Sequence[int]


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
    """``counts[a, b]``: how often id ``b`` directly follows id ``a`` in ``ids`` ``(N,)``.

    Returns an int64 ``(V, V)`` tensor summing to ``N - 1`` (one ``bincount`` of ``a * V + b``).
    """
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    t = _as_ids(ids, vocab_size)
    pair_index = t[:-1] * vocab_size + t[1:]  # (N-1,)
    return torch.bincount(pair_index, minlength=vocab_size * vocab_size).view(
        vocab_size, vocab_size
    )


class BigramModel:
    """A bigram model with add-k smoothing over a ``(V, V)`` table of :attr:`counts`.

    Row ``a`` of :attr:`probs` is the next-token distribution after ``a`` (rows sum to 1;
    tokens never seen get a uniform row whatever the smoothing). Build one with :meth:`fit`.
    """

    def __init__(self, counts: torch.Tensor, smoothing: float = 1.0) -> None:
        if counts.dim() != 2 or counts.shape[0] != counts.shape[1]:
            raise ValueError(
                f"counts must be a square (V, V) tensor, got shape {tuple(counts.shape)}"
            )
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
        """Mean negative log-likelihood of ``ids`` in nats over its ``N - 1`` predictions
        (``inf`` for an unseen pair when ``smoothing=0``).

        Raises:
            ValueError: if fewer than 2 ids are given.
        """
        t = _as_ids(ids, self.vocab_size)
        if t.numel() < 2:
            raise ValueError("need at least 2 token ids to score a next-token prediction")
        logp = self._probs64.log()[t[:-1], t[1:]]  # (N-1,)
        return float(-logp.mean())

    def sample(self, generator: torch.Generator, num_tokens: int, start: int = 0) -> list[int]:
        """``num_tokens`` ids drawn one after the other from the row of the previous one,
        starting after ``start`` (not included); reproducible with a seeded ``generator``."""
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
