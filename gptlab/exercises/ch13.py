"""Exercises for chapter 13 (evaluation): perplexity across tokenizers, BLEU's pieces."""

from __future__ import annotations

import math
from collections import Counter

from gptlab.exercises import Exercise, Incorrect, close

# ---------------------------------------------------------------------------------------
# 1. perplexity per token from a loss per character
# ---------------------------------------------------------------------------------------

_PPL_CASES = [(1.5, 3.0), (1.2, 1.0), (0.9, 4.2), (2.0, 2.5)]


def _token_ppl_true(nats_per_char: float, chars_per_token: float) -> float:
    return math.exp(nats_per_char * chars_per_token)


def _check_token_ppl(fn) -> None:
    for loss, cpt in _PPL_CASES:
        what = f"token_perplexity({loss}, chars_per_token={cpt})"
        got = fn(loss, cpt)
        try:
            value = float(got)
        except (TypeError, ValueError):
            raise Incorrect(f"{what} should return a number, got {type(got).__name__}.") from None
        if cpt != 1.0:
            if math.isclose(value, math.exp(loss), rel_tol=1e-6):
                raise Incorrect(
                    f"{what}: exp(nats per char) is the perplexity per *character*. A token "
                    "covers several characters, so its loss is the per-character loss times "
                    "chars_per_token; convert first, then take exp."
                )
            if math.isclose(value, math.exp(loss / cpt), rel_tol=1e-6):
                raise Incorrect(
                    f"{what}: you divided by chars_per_token. A token is longer than a "
                    "character, so the loss per token is larger: multiply."
                )
            if math.isclose(value, math.exp(loss) * cpt, rel_tol=1e-6):
                raise Incorrect(f"{what}: scale the loss (inside the exp), not the perplexity.")
        if math.isclose(value, 2.0 ** (loss * cpt), rel_tol=1e-6):
            raise Incorrect(f"{what}: the loss is in nats, so undo it with exp, not 2 ** x.")
        if math.isclose(value, loss * cpt, rel_tol=1e-6):
            raise Incorrect(f"{what}: this is the loss per token; perplexity is exp of it.")
        close(
            value,
            _token_ppl_true(loss, cpt),
            what,
            rel=1e-6,
            hint="Loss per token = loss per char * chars per token; perplexity = exp(loss per token).",
        )


token_perplexity = Exercise(
    name="token_perplexity",
    prompt=(
        "Write token_perplexity(nats_per_char, chars_per_token): the perplexity per token "
        "of a model whose loss is nats_per_char per character, with a tokenizer that "
        "makes tokens of chars_per_token characters on average."
    ),
    checker=_check_token_ppl,
    hint_text=(
        "The total loss of the text is the same whichever unit you share it out over. "
        "How many nats does one token carry if each character carries nats_per_char?"
    ),
    solution_text=(
        "def token_perplexity(nats_per_char, chars_per_token):\n"
        "    return math.exp(nats_per_char * chars_per_token)"
    ),
    reference=lambda: _token_ppl_true,
    wrong_answers=[
        lambda: lambda loss, cpt: math.exp(loss),  # forgot the conversion
        lambda: lambda loss, cpt: math.exp(loss / cpt),  # converted the wrong way
        lambda: lambda loss, cpt: 2.0 ** (loss * cpt),  # wrong base
    ],
)

# ---------------------------------------------------------------------------------------
# 2. BLEU's brevity penalty
# ---------------------------------------------------------------------------------------

_BP_CASES = [(10, 10), (12, 10), (8, 10), (5, 20), (30, 7), (1, 3)]


def _bp_true(hyp_len: int, ref_len: int) -> float:
    if hyp_len > ref_len:
        return 1.0
    return math.exp(1.0 - ref_len / hyp_len)


def _check_bp(fn) -> None:
    for c, r in _BP_CASES:
        what = f"brevity_penalty(hyp_len={c}, ref_len={r})"
        got = fn(c, r)
        try:
            value = float(got)
        except (TypeError, ValueError):
            raise Incorrect(f"{what} should return a number, got {type(got).__name__}.") from None
        expected = _bp_true(c, r)
        if c > r and value < 1.0 - 1e-9:
            raise Incorrect(
                f"{what} = {value:.4g}: a hypothesis longer than the reference is "
                "not penalised by the brevity penalty (the clipped precisions already "
                "punish extra words). It should be 1."
            )
        if c < r:
            if math.isclose(value, 1.0):
                raise Incorrect(
                    f"{what}: a hypothesis shorter than its reference must be "
                    "penalised (the penalty is below 1)."
                )
            if math.isclose(value, math.exp(1.0 - c / r), rel_tol=1e-6):
                raise Incorrect(f"{what}: the ratio is upside down: exp(1 - ref_len / hyp_len).")
            if math.isclose(value, c / r, rel_tol=1e-6):
                raise Incorrect(f"{what}: the penalty is exponential: exp(1 - r / c), not c / r.")
        close(value, expected, what, rel=1e-6, hint="BP = 1 if c > r, else exp(1 - r / c).")


def _bp_reference():
    def brevity_penalty(hyp_len, ref_len):
        return 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)

    return brevity_penalty


brevity_penalty = Exercise(
    name="brevity_penalty",
    prompt=(
        "Write brevity_penalty(hyp_len, ref_len): BLEU's brevity penalty for a hypothesis "
        "of hyp_len words (c) against a reference of ref_len words (r)."
    ),
    checker=_check_bp,
    hint_text=(
        "Papineni et al. (2002): no penalty when the hypothesis is longer than the "
        "reference; otherwise an exponential that falls as c shrinks below r."
    ),
    solution_text=(
        "def brevity_penalty(hyp_len, ref_len):\n"
        "    return 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)"
    ),
    reference=_bp_reference,
    wrong_answers=[
        lambda: lambda c, r: 1.0 if c > r else math.exp(1 - c / r),  # ratio upside down
        lambda: lambda c, r: math.exp(1 - max(c, r) / min(c, r)),  # penalises long ones too
        lambda: lambda c, r: min(1.0, c / r),  # linear
    ],
)

# ---------------------------------------------------------------------------------------
# 3. clipped (modified) n-gram precision
# ---------------------------------------------------------------------------------------

_PREC_CASES = [
    ("the the the the the the the".split(), "the cat is on the mat".split(), 1),
    ("the cat the cat on the mat".split(), "the cat is on the mat".split(), 1),
    ("the cat the cat on the mat".split(), "the cat is on the mat".split(), 2),
    ("a b c d".split(), "a b c d".split(), 3),
    ("x y z".split(), "a b c".split(), 1),
]


def _ngrams(words: list[str], n: int) -> Counter:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def _prec_true(hyp: list[str], ref: list[str], n: int) -> float:
    h, r = _ngrams(hyp, n), _ngrams(ref, n)
    total = sum(h.values())
    return sum(min(c, r[g]) for g, c in h.items()) / total if total else 0.0


def _check_prec(fn) -> None:
    for hyp, ref, n in _PREC_CASES:
        what = f"clipped_precision({' '.join(hyp)!r}, {' '.join(ref)!r}, n={n})"
        got = fn(list(hyp), list(ref), n)
        try:
            value = float(got)
        except (TypeError, ValueError):
            raise Incorrect(f"{what} should return a number, got {type(got).__name__}.") from None
        h, r = _ngrams(hyp, n), _ngrams(ref, n)
        unclipped = sum(c for g, c in h.items() if g in r) / max(1, sum(h.values()))
        expected = _prec_true(hyp, ref, n)
        if not math.isclose(unclipped, expected) and math.isclose(value, unclipped, rel_tol=1e-9):
            raise Incorrect(
                f"{what} = {value:.4g}: every repeat of a matching n-gram counted. Clip each "
                "n-gram's count at the number of times it occurs in the reference, or "
                "'the the the ...' gets a perfect score."
            )
        recall = sum(min(c, r[g]) for g, c in h.items()) / max(1, sum(r.values()))
        if not math.isclose(recall, expected) and math.isclose(value, recall, rel_tol=1e-9):
            raise Incorrect(
                f"{what}: you divided by the reference's n-gram count (that is "
                "recall, ROUGE's view). Precision divides by the hypothesis's count."
            )
        close(
            value,
            expected,
            what,
            rel=1e-9,
            hint="sum over the hypothesis's n-grams of min(count in hyp, count in ref), "
            "divided by the number of n-grams in the hypothesis.",
        )


def _prec_reference():
    def clipped_precision(hyp, ref, n):
        grams = lambda w: Counter(tuple(w[i : i + n]) for i in range(len(w) - n + 1))  # noqa: E731
        h, r = grams(hyp), grams(ref)
        return sum(min(c, r[g]) for g, c in h.items()) / max(1, sum(h.values()))

    return clipped_precision


def _unclipped():
    def clipped_precision(hyp, ref, n):
        grams = lambda w: [tuple(w[i : i + n]) for i in range(len(w) - n + 1)]  # noqa: E731
        h, r = grams(hyp), set(grams(ref))
        return sum(g in r for g in h) / max(1, len(h))

    return clipped_precision


def _recall():
    def clipped_precision(hyp, ref, n):
        grams = lambda w: Counter(tuple(w[i : i + n]) for i in range(len(w) - n + 1))  # noqa: E731
        h, r = grams(hyp), grams(ref)
        return sum(min(c, r[g]) for g, c in h.items()) / max(1, sum(r.values()))

    return clipped_precision


clipped_precision = Exercise(
    name="clipped_precision",
    prompt=(
        "Write clipped_precision(hyp, ref, n): BLEU's modified n-gram precision of a "
        "hypothesis (a list of words) against one reference (a list of words)."
    ),
    checker=_check_prec,
    hint_text=(
        "Count the hypothesis's n-grams with collections.Counter. An n-gram may be "
        "credited at most as often as it appears in the reference."
    ),
    solution_text=(
        "def clipped_precision(hyp, ref, n):\n"
        "    grams = lambda w: Counter(tuple(w[i:i + n]) for i in range(len(w) - n + 1))\n"
        "    h, r = grams(hyp), grams(ref)\n"
        "    return sum(min(c, r[g]) for g, c in h.items()) / max(1, sum(h.values()))"
    ),
    reference=_prec_reference,
    wrong_answers=[_unclipped, _recall],
)

__all__ = ["brevity_penalty", "clipped_precision", "token_perplexity"]
