"""Independent correct answers for chapter 01's exercises."""

import math
from collections import Counter

import torch


def bigram_nll_counter(train_ids, test_ids, vocab_size, k):
    """Plain Python: a Counter of pairs, probabilities computed on demand."""
    pairs = Counter(zip(train_ids[:-1].tolist(), train_ids[1:].tolist()))
    row_total = Counter(train_ids[:-1].tolist())
    test = test_ids.tolist()
    total = 0.0
    for a, b in zip(test[:-1], test[1:]):
        p = (pairs[(a, b)] + k) / (row_total[a] + k * vocab_size)
        total -= math.log(p)
    return total / (len(test) - 1)


def bigram_nll_onehot(train_ids, test_ids, vocab_size, k):
    """Counts as a product of one-hot matrices; log-probabilities with log_softmax-free algebra."""
    prev = torch.nn.functional.one_hot(train_ids[:-1], vocab_size).double()
    nxt = torch.nn.functional.one_hot(train_ids[1:], vocab_size).double()
    counts = prev.T @ nxt + k
    logp = counts.log() - counts.sum(dim=1, keepdim=True).log()
    return float(-logp[test_ids[:-1], test_ids[1:]].mean())


ALTERNATIVES = {
    "bigram_nll": [bigram_nll_counter, bigram_nll_onehot],
    "add_k_smoothing": [lambda c, k: (c + k) / (c + k).sum()],
    "perplexity": [lambda loss: math.e**loss, lambda loss: float(torch.tensor(loss).exp())],
    "bits_per_char": [lambda loss, t, c: math.log2(math.exp(loss * t / c))],
}
