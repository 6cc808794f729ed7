"""gptlab.metrics: nats, bits, perplexity, per-character losses and exact match."""

from __future__ import annotations

import math

import pytest
import torch

from gptlab.metrics import (
    LN2,
    bits_per_char,
    exact_match,
    exact_match_rate,
    nats_to_bits,
    normalize_answer,
    per_char_loss,
    perplexity,
)


def test_perplexity_of_uniform_is_vocab_size():
    for v in (2, 65, 50257):
        assert perplexity(math.log(v)) == pytest.approx(v)
    assert perplexity(0.0) == 1.0


def test_perplexity_accepts_tensors():
    loss = torch.tensor([0.0, math.log(10.0)])
    torch.testing.assert_close(perplexity(loss), torch.tensor([1.0, 10.0]))


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_perplexity_rejects_impossible_losses(bad):
    with pytest.raises(ValueError, match="finite and >= 0"):
        perplexity(bad)


def test_nats_to_bits():
    assert LN2 == pytest.approx(0.6931471805599453)
    assert nats_to_bits(math.log(2)) == pytest.approx(1.0)
    assert nats_to_bits(math.log(256)) == pytest.approx(8.0)
    torch.testing.assert_close(nats_to_bits(torch.tensor(LN2 * 3)), torch.tensor(3.0))


def test_per_char_loss_shares_the_total_loss_out():
    # 1,000 tokens at 3.2 nats each over 4,000 characters: 0.8 nats per character
    assert per_char_loss(3.2, n_tokens=1000, n_chars=4000) == pytest.approx(0.8)
    # the total is kept
    assert per_char_loss(2.0, 10, 25) * 25 == pytest.approx(2.0 * 10)
    with pytest.raises(ValueError):
        per_char_loss(1.0, 0, 10)


def test_bits_per_char():
    assert bits_per_char(math.log(2)) == pytest.approx(1.0)
    assert bits_per_char(4 * math.log(2), n_tokens=1, n_chars=4) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="both"):
        bits_per_char(1.0, n_tokens=3)


def test_exact_match_ignores_quotes_case_spacing_and_end_punctuation():
    assert exact_match('"Macbeth."', "Macbeth")
    assert exact_match("  lady   MACBETH! ", "Lady Macbeth")
    assert exact_match("“Macbeth”", "(Macbeth)")
    assert not exact_match("Macbeth", "Hamlet")
    assert not exact_match("Lady Macbeth", "Macbeth")
    assert normalize_answer(" 'Lady Macbeth's?' ") == "lady macbeth's"


def test_exact_match_rate():
    assert exact_match_rate(['"Macbeth."', "Hamlet"], ["Macbeth", "Othello"]) == 0.5
    for preds, refs in [([], []), (["a"], ["a", "b"]), ("a", ["a"])]:
        with pytest.raises(ValueError):
            exact_match_rate(preds, refs)
