"""Exercises for chapter 02 (tokenization): BPE's merge step, its pair choice, compression."""

from __future__ import annotations

import itertools
from collections import Counter

from gptlab.exercises import Exercise, Incorrect, close

# ---------------------------------------------------------------------------------------
# 1. merge(ids, pair, new_id)
# ---------------------------------------------------------------------------------------


def _merge_true(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


_MERGE_CASES = [
    ([5, 6, 7, 5, 6], (5, 6), 99, "two separate occurrences"),
    ([1, 2, 3], (2, 3), 256, "an occurrence at the very end"),
    ([4, 4, 4], (4, 4), 300, "three equal ids in a row (overlapping occurrences)"),
    ([4, 4, 4, 4], (4, 4), 300, "four equal ids in a row"),
    ([8, 9, 9, 8], (9, 8), 257, "a pair that starts in the middle"),
    ([3, 1, 4, 1, 5], (7, 7), 258, "a pair that does not occur"),
    ([], (1, 2), 256, "an empty list"),
    ([7], (7, 7), 256, "a single id"),
]


def _check_merge(fn) -> None:
    for ids, pair, new_id, what in _MERGE_CASES:
        original = list(ids)
        got = fn(list(ids), pair, new_id)
        expected = _merge_true(ids, pair, new_id)
        if got is None:
            raise Incorrect("merge returned None: build and return a new list.")
        got = list(got)
        if got == expected:
            continue
        label = f"merge({original}, {pair}, {new_id}) ({what})"
        if got.count(new_id) < expected.count(new_id) and got.count(new_id) == 1:
            raise Incorrect(
                f"{label} gave {got}, expected {expected}: replace every "
                "occurrence, not only the first one."
            )
        if len(got) > len(expected) and pair[0] == pair[1]:
            raise Incorrect(
                f"{label} gave {got}, expected {expected}. After a match, skip both "
                "ids of the pair: an id that was merged cannot start another pair."
            )
        if len(got) > len(ids):
            raise Incorrect(
                f"{label} gave {got}, which is longer than the input. After a match, "
                "move past both ids of the pair."
            )
        raise Incorrect(f"{label} gave {got}, expected {expected}.")


def _merge_first_only(ids, pair, new_id):
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == tuple(pair):
            return ids[:i] + [new_id] + ids[i + 2 :]
    return ids


def _merge_no_skip(ids, pair, new_id):
    # the classic slip: after a match, advance by one instead of two
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
        else:
            out.append(ids[i])
        i += 1
    return out


def _merge_from_right(ids, pair, new_id):
    out, i = [], len(ids) - 1
    while i >= 0:
        if i >= 1 and (ids[i - 1], ids[i]) == tuple(pair):
            out.append(new_id)
            i -= 2
        else:
            out.append(ids[i])
            i -= 1
    return out[::-1]


merge = Exercise(
    name="merge",
    prompt="Write merge(ids, pair, new_id): replace every occurrence of pair in ids by new_id.",
    checker=_check_merge,
    hint_text=(
        "Walk along the list with an index i. If ids[i], ids[i+1] is the pair, append "
        "new_id and jump by 2; otherwise append ids[i] and step by 1."
    ),
    solution_text=(
        "def merge(ids, pair, new_id):\n    out, i = [], 0\n    while i < len(ids):\n"
        "        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:\n"
        "            out.append(new_id)\n            i += 2\n        else:\n"
        "            out.append(ids[i])\n            i += 1\n    return out"
    ),
    reference=lambda: _merge_true,
    wrong_answers=[lambda: _merge_first_only, lambda: _merge_no_skip, lambda: _merge_from_right],
)

# ---------------------------------------------------------------------------------------
# 2. most_frequent_pair(ids) with the smallest-pair tie-break
# ---------------------------------------------------------------------------------------


def _most_frequent_true(ids):
    counts = Counter(itertools.pairwise(ids))
    return min(counts, key=lambda p: (-counts[p], p))


_PAIR_CASES = [
    ([1, 2, 3, 1, 2], "one clear winner"),
    ([9, 8, 1, 2, 9, 8, 1, 2], "a tie between (9, 8), (8, 1) and (1, 2), where (9, 8) comes first"),
    ([7, 7, 3, 5, 3, 5, 7, 7], "a tie where the first pair seen is not the smallest"),
    ([260, 101, 32, 116, 32, 116, 260, 101], "ids above 255"),
    ([4, 2], "a single pair"),
]


def _check_most_frequent(fn) -> None:
    for ids, what in _PAIR_CASES:
        got = fn(list(ids))
        expected = _most_frequent_true(ids)
        try:
            got_pair = tuple(int(x) for x in got)
        except TypeError:
            raise Incorrect(
                f"most_frequent_pair should return a pair (a tuple of two ids), got {got!r}."
            ) from None
        if got_pair == expected:
            continue
        counts = Counter(itertools.pairwise(ids))
        label = f"most_frequent_pair({ids}) ({what})"
        if got_pair in counts and counts[got_pair] == counts[expected]:
            raise Incorrect(
                f"{label} gave {got_pair}, which ties with {expected} "
                f"({counts[expected]} times each). Break ties by the smallest pair, "
                "(a, b) < (c, d) as tuples, not by which pair was seen first."
            )
        raise Incorrect(
            f"{label} gave {got_pair}, expected {expected} (it occurs {counts[expected]} times)."
        )


most_frequent_pair = Exercise(
    name="most_frequent_pair",
    prompt=(
        "Write most_frequent_pair(ids): the adjacent pair that occurs most often; among "
        "pairs with equal counts, the smallest pair."
    ),
    checker=_check_most_frequent,
    hint_text=(
        "Count zip(ids, ids[1:]) with a Counter, then pick with min() over a key that "
        "sorts by count (largest first) and then by the pair itself."
    ),
    solution_text=(
        "def most_frequent_pair(ids):\n    counts = Counter(zip(ids, ids[1:]))\n"
        "    return min(counts, key=lambda p: (-counts[p], p))"
    ),
    reference=lambda: _most_frequent_true,
    wrong_answers=[
        lambda: lambda ids: Counter(itertools.pairwise(ids)).most_common(1)[0][0],  # first seen
        lambda: (
            lambda ids: max(
                Counter(itertools.pairwise(ids)).items(), key=lambda kv: (kv[1], kv[0])
            )[0]
        ),
    ],
)

# ---------------------------------------------------------------------------------------
# 3. characters per token
# ---------------------------------------------------------------------------------------

_CPT_TEXTS = [
    "To be, or not to be, that is the question.",
    "Café crème, naïve façade: déjà vu.",
    "语言模型 🙂",
]


def _tokenizers():
    from gptlab.tokenizers import BPETokenizer

    bytes_only = BPETokenizer()  # no merges: one token per byte
    small = BPETokenizer.train(" ".join(_CPT_TEXTS) * 3, vocab_size=280)
    return [("a bytes-only BPETokenizer()", bytes_only), ("a small trained BPETokenizer", small)]


def _check_cpt(fn) -> None:
    for name, tok in _tokenizers():
        for text in _CPT_TEXTS:
            n_tokens = len(tok.encode(text))
            expected = len(text) / n_tokens
            got = fn(text, tok)
            what = f"chars_per_token({text!r}, {name})"
            try:
                value = float(got)
            except (TypeError, ValueError):
                raise Incorrect(
                    f"{what} should return a number, got {type(got).__name__}."
                ) from None
            if abs(value - n_tokens / len(text)) < 1e-9 and n_tokens != len(text):
                raise Incorrect(
                    f"{what} = {value:.4f} is tokens per character: turn it upside down."
                )
            n_bytes = len(text.encode("utf-8"))
            if abs(value - n_bytes / n_tokens) < 1e-9 and n_bytes != len(text):
                raise Incorrect(
                    f"{what} = {value:.4f} counts UTF-8 bytes, not characters: use "
                    "len(text), which counts characters in Python."
                )
            close(
                value,
                expected,
                what,
                rel=1e-9,
                hint="Divide the number of characters by the number of token ids.",
            )


chars_per_token = Exercise(
    name="chars_per_token",
    prompt=(
        "Write chars_per_token(text, tokenizer): how many characters of text one token "
        "covers on average (higher means better compression)."
    ),
    checker=_check_cpt,
    hint_text="len(text) counts characters; tokenizer.encode(text) gives the token ids.",
    solution_text=(
        "def chars_per_token(text, tokenizer):\n    return len(text) / len(tokenizer.encode(text))"
    ),
    reference=lambda: lambda text, tok: len(text) / len(tok.encode(text)),
    wrong_answers=[
        lambda: lambda text, tok: len(tok.encode(text)) / len(text),
        lambda: lambda text, tok: len(text.encode("utf-8")) / len(tok.encode(text)),
    ],
)

__all__ = ["chars_per_token", "merge", "most_frequent_pair"]
