"""Exercises for chapter 01 (language models): perplexity, bits per character, add-k smoothing."""

from __future__ import annotations

import math

import torch

from gptlab.exercises import Exercise, Incorrect, close

# ---------------------------------------------------------------------------------------
# 1. perplexity from a loss in nats
# ---------------------------------------------------------------------------------------

_PPL_CASES = [0.0, math.log(2.0), 1.0, 2.5084, math.log(84.0), 4.2]


def _check_perplexity(fn) -> None:
    for loss in _PPL_CASES:
        got = fn(loss)
        expected = math.exp(loss)
        try:
            value = float(got)
        except (TypeError, ValueError):
            raise Incorrect(
                f"perplexity_from_loss({loss:.4g}) should return a number, "
                f"got {type(got).__name__}."
            ) from None
        if abs(value - 2.0**loss) < 1e-6 * max(1.0, 2.0**loss) and loss > 0:
            raise Incorrect(
                f"For a loss of {loss:.4g} nats you returned 2 ** loss = {value:.4g}. The loss is "
                "measured in nats (natural logarithm), so undo it with exp, not with a power of 2."
            )
        if abs(value - loss) < 1e-9 and loss > 0:
            raise Incorrect(
                f"perplexity_from_loss({loss:.4g}) returned the loss itself. Perplexity is "
                "exp(loss): the loss is a log, perplexity is back on the scale of 'number of choices'."
            )
        close(
            value,
            expected,
            f"perplexity_from_loss({loss:.4g})",
            rel=1e-6,
            hint="Perplexity is e raised to the average loss in nats.",
        )


def _ppl_reference():
    return lambda loss: math.exp(loss)


perplexity = Exercise(
    name="perplexity",
    prompt="Write perplexity_from_loss(loss) that turns an average loss in nats into a perplexity.",
    checker=_check_perplexity,
    hint_text="The loss is an average of -ln p. Undo the logarithm of the same base.",
    solution_text="def perplexity_from_loss(loss):\n    return math.exp(loss)",
    reference=_ppl_reference,
    wrong_answers=[
        lambda: lambda loss: 2.0**loss,  # wrong base
        lambda: lambda loss: loss,  # forgot exp
        lambda: lambda loss: math.exp(-loss),  # sign
    ],
)

# ---------------------------------------------------------------------------------------
# 2. bits per character from a loss per token
# ---------------------------------------------------------------------------------------

_BPC_CASES = [(3.3, 1000, 3070), (2.5, 500, 500), (4.0, 120, 480), (1.2, 7, 3)]


def _bpc_true(loss, n_tokens, n_chars):
    return loss * n_tokens / n_chars / math.log(2.0)


def _check_bpc(fn) -> None:
    for loss, n_tok, n_chr in _BPC_CASES:
        value = fn(loss, n_tok, n_chr)
        expected = _bpc_true(loss, n_tok, n_chr)
        what = f"bits_per_char({loss}, n_tokens={n_tok}, n_chars={n_chr})"
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise Incorrect(f"{what} should return a number, got {type(value).__name__}.") from None
        if n_tok != n_chr:
            if math.isclose(value, loss * n_chr / n_tok / math.log(2.0), rel_tol=1e-6):
                raise Incorrect(
                    f"{what}: you scaled by n_chars / n_tokens. The text's total loss is "
                    "loss_per_token * n_tokens; share that out over n_chars characters."
                )
            if math.isclose(value, loss / math.log(2.0), rel_tol=1e-6):
                raise Incorrect(
                    f"{what}: this is bits per token. Convert to per character as well."
                )
        if math.isclose(value, loss * n_tok / n_chr, rel_tol=1e-6) and loss > 0:
            raise Incorrect(f"{what}: this is still in nats. Divide by ln 2 to get bits.")
        if math.isclose(value, loss * n_tok / n_chr * math.log(2.0), rel_tol=1e-6):
            raise Incorrect(f"{what}: you multiplied by ln 2; one bit is ln 2 nats, so divide.")
        if math.isclose(value, loss * n_tok / n_chr / math.log(10.0), rel_tol=1e-6):
            raise Incorrect(f"{what}: you divided by ln 10 (decimal digits); bits need ln 2.")
        close(
            value,
            expected,
            what,
            rel=1e-6,
            hint="Per character: loss * n_tokens / n_chars. Then nats -> bits: divide by ln 2.",
        )


bits_per_char = Exercise(
    name="bits_per_char",
    prompt=(
        "Write bits_per_char(loss_per_token, n_tokens, n_chars): a loss in nats per token, "
        "measured on a text of n_tokens tokens and n_chars characters, in bits per character."
    ),
    checker=_check_bpc,
    hint_text=(
        "First find the total loss of the text in nats, then share it out over the "
        "characters, then change the unit from nats to bits."
    ),
    solution_text=(
        "def bits_per_char(loss_per_token, n_tokens, n_chars):\n"
        "    return loss_per_token * n_tokens / n_chars / math.log(2)"
    ),
    reference=lambda: _bpc_true,
    wrong_answers=[
        lambda: lambda loss, t, c: loss * c / t / math.log(2.0),  # ratio upside down
        lambda: lambda loss, t, c: loss * t / c,  # still nats
        lambda: lambda loss, t, c: loss / math.log(2.0),  # bits per token
    ],
)

# ---------------------------------------------------------------------------------------
# 3. add-k smoothing of one row of counts
# ---------------------------------------------------------------------------------------

_ROWS = [
    (torch.tensor([5, 0, 3, 0, 12, 0]), 1.0),
    (torch.tensor([0, 0, 7, 1]), 0.5),
    (torch.tensor([2, 2, 9]), 0.01),
    (torch.tensor([0, 4, 0, 0, 0, 0, 0, 0]), 2.0),
]


def _smooth_true(counts: torch.Tensor, k: float) -> torch.Tensor:
    c = counts.to(torch.float64)
    return (c + k) / (c.sum() + k * c.numel())


def _check_smoothing(fn) -> None:
    for counts, k in _ROWS:
        got = fn(counts.clone(), k)
        if not isinstance(got, torch.Tensor):
            got = torch.as_tensor(got)
        got = got.to(torch.float64)
        what = f"add_k_probs({counts.tolist()}, k={k})"
        if got.shape != counts.shape:
            raise Incorrect(
                f"{what} should have shape {tuple(counts.shape)}, got {tuple(got.shape)}."
            )
        if torch.allclose(got, _smooth_true(counts, k), rtol=1e-5, atol=1e-7):
            continue
        c = counts.to(torch.float64)
        if torch.allclose(got, (c + k) / (c.sum() + k)):
            raise Incorrect(
                f"{what}: the probabilities sum to {float(got.sum()):.4f}, not 1. You added k to "
                "every one of the V counts, so the denominator must grow by k * V, not by k."
            )
        if torch.allclose(got, (c + k) / c.sum()):
            raise Incorrect(
                f"{what}: the probabilities sum to {float(got.sum()):.4f}, not 1. After adding k to "
                "each count, divide by the new total: sum(counts) + k * V."
            )
        if torch.allclose(got, c / c.sum()):
            raise Incorrect(
                f"{what}: these are the unsmoothed frequencies; zero counts must get "
                "a probability above zero."
            )
        raise Incorrect(
            f"{what} gave {[round(v, 4) for v in got.tolist()]}, expected "
            f"{[round(v, 4) for v in _smooth_true(counts, k).tolist()]}."
        )


def _smooth_reference():
    def add_k_probs(counts, k):
        counts = counts.double()
        return (counts + k) / (counts.sum() + k * len(counts))

    return add_k_probs


add_k_smoothing = Exercise(
    name="add_k_smoothing",
    prompt=(
        "Write add_k_probs(counts, k): given one row of bigram counts (a 1-D tensor of "
        "length V), return the add-k smoothed next-token probabilities."
    ),
    checker=_check_smoothing,
    hint_text=(
        "Add k to every count. The result must still sum to 1: how much did the total "
        "grow when you added k to V entries?"
    ),
    solution_text=(
        "def add_k_probs(counts, k):\n    counts = counts.double()\n"
        "    return (counts + k) / (counts.sum() + k * len(counts))"
    ),
    reference=_smooth_reference,
    wrong_answers=[
        lambda: lambda counts, k: (counts.double() + k) / (counts.sum() + k),
        lambda: lambda counts, k: (counts.double() + k) / counts.sum(),
        lambda: lambda counts, k: counts.double() / counts.sum(),
    ],
)

__all__ = ["add_k_smoothing", "bits_per_char", "perplexity"]
