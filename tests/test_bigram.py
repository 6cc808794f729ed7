"""gptlab.bigram: counting, smoothing, the loss and sampling of the bigram model."""

from __future__ import annotations

import math

import pytest
import torch

from gptlab.bigram import BigramModel, bigram_counts


def test_counts_by_hand():
    ids = [0, 1, 1, 2, 0, 1]
    counts = bigram_counts(ids, vocab_size=3)
    expected = torch.tensor([[0, 2, 0], [0, 1, 1], [1, 0, 0]])
    assert torch.equal(counts, expected)
    assert counts.sum() == len(ids) - 1


def test_counts_reject_bad_ids():
    with pytest.raises(ValueError, match="0..2"):
        bigram_counts([0, 3], vocab_size=3)
    with pytest.raises(ValueError, match="1-D"):
        bigram_counts(torch.zeros(2, 2, dtype=torch.long), vocab_size=3)


def test_add_k_probabilities():
    model = BigramModel.fit([0, 1, 1, 2, 0, 1], vocab_size=3, smoothing=1.0)
    # row 0 has counts [0, 2, 0]: (c + 1) / (2 + 3)
    torch.testing.assert_close(model.probs[0], torch.tensor([1 / 5, 3 / 5, 1 / 5]))
    torch.testing.assert_close(model.probs.sum(dim=1), torch.ones(3))
    torch.testing.assert_close(model.log_probs, model.probs.log())


def test_unseen_rows_are_uniform_even_without_smoothing():
    model = BigramModel.fit([0, 1, 0, 1], vocab_size=3, smoothing=0.0)
    torch.testing.assert_close(model.probs[2], torch.full((3,), 1 / 3))
    torch.testing.assert_close(model.probs[0], torch.tensor([0.0, 1.0, 0.0]))


def test_nll_matches_a_hand_computation():
    train = [0, 1, 1, 2, 0, 1]
    model = BigramModel.fit(train, vocab_size=3, smoothing=0.5)
    test = [1, 2, 0, 0]
    p = model.probs
    expected = -(math.log(p[1, 2]) + math.log(p[2, 0]) + math.log(p[0, 0])) / 3
    assert model.nll(test) == pytest.approx(expected, rel=1e-6)
    assert model.nll(torch.tensor(test)) == pytest.approx(expected, rel=1e-6)


def test_unsmoothed_model_gives_infinite_loss_on_unseen_pair():
    model = BigramModel.fit([0, 1, 0, 1], vocab_size=2, smoothing=0.0)
    assert model.nll([0, 1, 0]) == pytest.approx(0.0, abs=1e-12)
    assert model.nll([0, 0]) == math.inf


def test_huge_smoothing_tends_to_uniform():
    model = BigramModel.fit([0, 1, 1, 2, 0, 1], vocab_size=3, smoothing=1e9)
    assert model.nll([2, 1, 0, 2]) == pytest.approx(math.log(3), rel=1e-6)


def test_with_smoothing_reuses_counts():
    model = BigramModel.fit([0, 1, 1, 2], vocab_size=3, smoothing=1.0)
    other = model.with_smoothing(0.1)
    assert torch.equal(other.counts, model.counts) and other.smoothing == 0.1


def test_sampling_is_reproducible_and_follows_the_counts():
    model = BigramModel.fit([0, 1, 2] * 50, vocab_size=3, smoothing=0.0)
    a = model.sample(torch.Generator().manual_seed(1), 12, start=0)
    b = model.sample(torch.Generator().manual_seed(1), 12, start=0)
    assert a == b == [1, 2, 0] * 4  # the only possible continuation


def test_bad_arguments():
    with pytest.raises(ValueError, match="smoothing"):
        BigramModel(torch.zeros(3, 3), smoothing=-1)
    with pytest.raises(ValueError, match="square"):
        BigramModel(torch.zeros(3, 4))
    model = BigramModel.fit([0, 1], vocab_size=2)
    with pytest.raises(ValueError, match="at least 2"):
        model.nll([1])
    with pytest.raises(ValueError, match="start"):
        model.sample(torch.Generator(), 3, start=5)
