"""Self-checking exercises of chapter 03 (attention).

In the notebook::

    from gptlab.exercises import ch03
    ch03.attention_weights.check(attention_weights)
    ch03.causal_mask.check(causal_mask)
    ch03.stable_softmax.check(stable_softmax)
"""

from __future__ import annotations

import math

import torch

from gptlab.exercises import Exercise, Incorrect

__all__ = ["attention_weights", "causal_mask", "stable_softmax"]


def _tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Incorrect(f"{what} should be a torch.Tensor, got {type(value).__name__}.")
    return value


# --------------------------------------------------------------------------------------------
# (a) attention weights softmax(q k^T / sqrt(d))
# --------------------------------------------------------------------------------------------


def _ref_attention_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    d = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., Tq, Tk)
    return torch.softmax(scores, dim=-1)


def _check_attention_weights(f) -> None:
    g = torch.Generator().manual_seed(3)
    cases = [
        (
            torch.randn(2, 5, 16, generator=g),
            torch.randn(2, 7, 16, generator=g),
        ),  # (B, Tq, d), (B, Tk, d)
        (torch.randn(4, 9, generator=g), torch.randn(6, 9, generator=g)),  # (Tq, d), (Tk, d)
    ]
    for q, k in cases:
        got = _tensor(f(q.clone(), k.clone()), "attention_weights(q, k)")
        want = _ref_attention_weights(q, k)
        if got.shape != want.shape:
            raise Incorrect(
                f"for q of shape {tuple(q.shape)} and k of shape {tuple(k.shape)} the weights "
                f"should have shape {tuple(want.shape)} (..., Tq, Tk) = one row per query, one "
                f"column per key; got {tuple(got.shape)}. Multiply q by k transposed on its last "
                f"two dimensions: q @ k.transpose(-2, -1)."
            )
        if torch.allclose(got, want, atol=1e-6, rtol=1e-5):
            continue
        raw = q @ k.transpose(-2, -1)
        d = q.size(-1)
        if torch.allclose(got, torch.softmax(raw, dim=-1), atol=1e-6):
            raise Incorrect(
                "the scores are not scaled: divide q @ k^T by sqrt(d) before the softmax."
            )
        if torch.allclose(got, torch.softmax(raw / d, dim=-1), atol=1e-6):
            raise Incorrect(
                f"you divided by d = {d}; divide by its square root, sqrt(d) = {math.sqrt(d):g}."
            )
        if torch.allclose(got, torch.softmax(raw / math.sqrt(d), dim=-2), atol=1e-6):
            raise Incorrect(
                "the softmax runs over the wrong dimension: each ROW (one query) must sum "
                "to 1 over the keys, so use dim=-1."
            )
        rows = got.sum(-1)
        if not torch.allclose(rows, torch.ones_like(rows), atol=1e-5):
            raise Incorrect(
                "each row of the weights (one query) should sum to 1; apply softmax over "
                "the last dimension."
            )
        raise Incorrect(
            "the weights differ from softmax(q @ k^T / sqrt(d)) over the last dimension."
        )


def _wrong_no_scale():
    return lambda q, k: torch.softmax(q @ k.transpose(-2, -1), dim=-1)


def _wrong_divide_by_d():
    return lambda q, k: torch.softmax(q @ k.transpose(-2, -1) / q.size(-1), dim=-1)


def _wrong_dim():
    return lambda q, k: torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-2)


attention_weights = Exercise(
    name="attention_weights",
    prompt="Write attention_weights(q, k) -> softmax(q k^T / sqrt(d)) for q (..., Tq, d), k (..., Tk, d).",
    checker=_check_attention_weights,
    hint_text="Scores are q @ k.transpose(-2, -1), shape (..., Tq, Tk). Divide them by "
    "math.sqrt(d) with d = q.size(-1), then softmax over the keys (dim=-1).",
    solution_text=(
        "def attention_weights(q, k):\n"
        "    d = q.size(-1)\n"
        "    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., Tq, Tk)\n"
        "    return torch.softmax(scores, dim=-1)"
    ),
    reference=lambda: _ref_attention_weights,
    wrong_answers=[_wrong_no_scale, _wrong_divide_by_d, _wrong_dim],
)


# --------------------------------------------------------------------------------------------
# (b) the causal mask
# --------------------------------------------------------------------------------------------


def _ref_causal_mask(T: int) -> torch.Tensor:
    return torch.tril(torch.ones(T, T, dtype=torch.bool))


def _check_causal_mask(f) -> None:
    for T in [4, 7, 1]:
        got = _tensor(f(T), f"causal_mask({T})")
        if got.shape != (T, T):
            raise Incorrect(
                f"causal_mask({T}) should have shape ({T}, {T}), got {tuple(got.shape)}."
            )
        if got.dtype != torch.bool:
            raise Incorrect(
                f"return a bool tensor (True = may attend), got dtype {got.dtype}; "
                f"build it with dtype=torch.bool or call .bool() on it."
            )
        want = _ref_causal_mask(T)
        if torch.equal(got, want):
            continue
        ones = torch.ones(T, T, dtype=torch.bool)
        if torch.equal(got, ones.triu()):
            raise Incorrect(
                "that is the upper triangle: rows are queries, columns are keys, and the "
                "query at position i may attend to keys j <= i (lower triangle, torch.tril)."
            )
        if torch.equal(got, ones.tril(-1)):
            raise Incorrect(
                "the diagonal is missing: a token may attend to itself (j == i), so keep "
                "the diagonal (torch.tril with the default diagonal=0)."
            )
        if torch.equal(got, ones.triu(1)):
            raise Incorrect(
                "you returned the positions to BLOCK; here True means 'may attend', so "
                "return the lower triangle including the diagonal (its complement)."
            )
        raise Incorrect(
            f"causal_mask({T}) is wrong: entry [i, j] should be True exactly when j <= i."
        )


causal_mask = Exercise(
    name="causal_mask",
    prompt="Write causal_mask(T) -> bool tensor (T, T), True where query i may attend to key j (j <= i).",
    checker=_check_causal_mask,
    hint_text="Start from torch.ones(T, T, dtype=torch.bool) and keep the lower triangle, diagonal "
    "included.",
    solution_text=(
        "def causal_mask(T):\n    return torch.tril(torch.ones(T, T, dtype=torch.bool))"
    ),
    reference=lambda: _ref_causal_mask,
    wrong_answers=[
        lambda: lambda T: torch.triu(torch.ones(T, T, dtype=torch.bool)),
        lambda: lambda T: torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1),
        lambda: lambda T: torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1),
        lambda: lambda T: torch.tril(torch.ones(T, T)),
    ],
)


# --------------------------------------------------------------------------------------------
# (c) numerically stable softmax
# --------------------------------------------------------------------------------------------


def _ref_stable_softmax(x: torch.Tensor) -> torch.Tensor:
    z = x - x.max(dim=-1, keepdim=True).values
    e = torch.exp(z)
    return e / e.sum(dim=-1, keepdim=True)


def _check_stable_softmax(f) -> None:
    g = torch.Generator().manual_seed(30)
    small = torch.randn(3, 6, generator=g)
    big = torch.tensor([[1000.0, 1001.0, 1002.0, 990.0]])
    mixed = torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0], [0.5, 0.0, -0.5]])

    def call(x: torch.Tensor) -> torch.Tensor:
        try:
            out = f(x.clone())
        except NotImplementedError:  # a RuntimeError too, but it means "not attempted yet"
            raise
        except RuntimeError as exc:
            raise Incorrect(
                f"your function raised RuntimeError: {exc}. If it is about sizes, keep "
                f"the reduced dimension with keepdim=True so that the max and the sum "
                f"broadcast against the rows."
            ) from None
        out = _tensor(out, "stable_softmax(x)")
        if out.shape != x.shape:
            raise Incorrect(
                f"the output should have the shape of the input {tuple(x.shape)}, got "
                f"{tuple(out.shape)}; use keepdim=True in max and sum."
            )
        return out

    if not torch.allclose(call(small), torch.softmax(small, -1), atol=1e-6):
        raise Incorrect(
            "on ordinary inputs the result differs from softmax over the last dimension: "
            "exponentiate, then divide by the sum of each row (keepdim=True)."
        )
    out = call(big)
    if not torch.isfinite(out).all():
        raise Incorrect(
            "on large inputs like 1000 you get nan: exp(1000) overflows to inf and "
            "inf / inf = nan. Subtract the row's maximum before exponentiating; the "
            "result does not change because softmax ignores a constant shift."
        )
    if not torch.allclose(out, torch.softmax(big, -1), atol=1e-6):
        raise Incorrect(
            "on large inputs the result is wrong; subtract the maximum of each row "
            "before exp, and divide by the sum of the shifted exponentials."
        )
    out = call(mixed)
    if not torch.isfinite(out).all() or not torch.allclose(
        out, torch.softmax(mixed, -1), atol=1e-6
    ):
        raise Incorrect(
            "rows with very different scales go wrong (row 2 is around -1000): subtract "
            "each ROW's own maximum (x.max(dim=-1, keepdim=True).values), not one "
            "maximum for the whole tensor, or the small rows underflow to 0 / 0."
        )


def _wrong_naive():
    return lambda x: torch.exp(x) / torch.exp(x).sum(dim=-1, keepdim=True)


def _wrong_global_max():
    def softmax(x):
        e = torch.exp(x - x.max())
        return e / e.sum(dim=-1, keepdim=True)

    return softmax


def _wrong_no_keepdim():
    def softmax(x):
        e = torch.exp(x - x.max(dim=-1).values)
        return e / e.sum(dim=-1)

    return softmax


stable_softmax = Exercise(
    name="stable_softmax",
    prompt="Write stable_softmax(x), a softmax over the last dimension that works for inputs like 1000.",
    checker=_check_stable_softmax,
    hint_text="softmax(x) = softmax(x - c) for any constant c. Take c = the maximum of each row "
    "(x.max(dim=-1, keepdim=True).values): then the largest exponent is exp(0) = 1 and "
    "nothing overflows.",
    solution_text=(
        "def stable_softmax(x):\n"
        "    z = x - x.max(dim=-1, keepdim=True).values  # largest entry of each row becomes 0\n"
        "    e = torch.exp(z)\n"
        "    return e / e.sum(dim=-1, keepdim=True)"
    ),
    reference=lambda: _ref_stable_softmax,
    wrong_answers=[_wrong_naive, _wrong_global_max, _wrong_no_keepdim],
)
