"""Self-checking exercises of chapter 04 (multi-head attention and position).

In the notebook::

    from gptlab.exercises import ch04
    ch04.split_heads.check(split_heads)
    ch04.merge_heads.check(merge_heads)
    ch04.mha_param_count.check(mha_param_count)
    ch04.sinusoidal_pe.check(sinusoidal_pe)
"""

from __future__ import annotations

import math

import torch

from gptlab.exercises import Exercise, Incorrect

__all__ = ["merge_heads", "mha_param_count", "sinusoidal_pe", "split_heads"]


def _tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Incorrect(f"{what} should be a torch.Tensor, got {type(value).__name__}.")
    return value


def _probe(B: int = 2, T: int = 3, C: int = 8) -> torch.Tensor:
    """A (B, T, C) tensor whose entries are all different, so any scrambling shows."""
    return torch.arange(B * T * C, dtype=torch.float32).view(B, T, C)


# --------------------------------------------------------------------------------------------
# (a) split_heads: (B, T, C) -> (B, nh, T, hs)
# --------------------------------------------------------------------------------------------


def _ref_split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, T, nh, hs) -> (B, nh, T, hs)


def _check_split_heads(f) -> None:
    for (B, T, C), nh in [((2, 3, 8), 2), ((1, 5, 12), 3)]:
        x = _probe(B, T, C)
        hs = C // nh
        got = _tensor(f(x.clone(), nh), "split_heads(x, n_head)")
        if got.shape == (B, T, nh, hs):
            raise Incorrect(
                f"the shape is (B, T, nh, hs) = {tuple(got.shape)}: after the view, swap "
                f"the T and nh dimensions with .transpose(1, 2) to get (B, nh, T, hs)."
            )
        if got.shape != (B, nh, T, hs):
            raise Incorrect(
                f"for x of shape {(B, T, C)} and n_head={nh} the result should have shape "
                f"(B, nh, T, hs) = {(B, nh, T, hs)}, got {tuple(got.shape)}."
            )
        want = _ref_split_heads(x, nh)
        if torch.equal(got, want):
            continue
        if torch.equal(got, x.reshape(B, nh, T, hs)):
            raise Incorrect(
                "the shape is right but the numbers are scrambled: viewing (B, T, C) "
                "directly as (B, nh, T, hs) cuts the flat memory in the wrong order and "
                "mixes different tokens into one row. View as (B, T, nh, hs) first (that "
                "only splits C), then .transpose(1, 2)."
            )
        if torch.equal(got, x.view(B, T, hs, nh).permute(0, 3, 1, 2)):
            raise Incorrect(
                "the heads are interleaved: head h must own the consecutive channels "
                "h*hs .. (h+1)*hs - 1, so split C as (nh, hs), not (hs, nh)."
            )
        raise Incorrect(
            "head h of token t should hold x[b, t, h*hs:(h+1)*hs]; view as (B, T, nh, hs), "
            "then transpose(1, 2)."
        )


split_heads = Exercise(
    name="split_heads",
    prompt="Write split_heads(x, n_head): (B, T, C) -> (B, nh, T, hs) with hs = C // n_head.",
    checker=_check_split_heads,
    hint_text="Two steps: x.view(B, T, n_head, hs) splits each token's C channels into heads; "
    ".transpose(1, 2) then moves the head dimension in front of T.",
    solution_text=(
        "def split_heads(x, n_head):\n"
        "    B, T, C = x.shape\n"
        "    return x.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, nh, T, hs)"
    ),
    reference=lambda: _ref_split_heads,
    wrong_answers=[
        lambda: lambda x, nh: x.reshape(x.size(0), nh, x.size(1), x.size(2) // nh),
        lambda: lambda x, nh: x.view(x.size(0), x.size(1), nh, x.size(2) // nh),
        lambda: lambda x, nh: x.view(x.size(0), x.size(1), x.size(2) // nh, nh).permute(0, 3, 1, 2),
    ],
)


# --------------------------------------------------------------------------------------------
# (b) merge_heads: (B, nh, T, hs) -> (B, T, C)
# --------------------------------------------------------------------------------------------


def _ref_merge_heads(y: torch.Tensor) -> torch.Tensor:
    B, nh, T, hs = y.shape
    return y.transpose(1, 2).contiguous().view(B, T, nh * hs)


def _check_merge_heads(f) -> None:
    for (B, T, C), nh in [((2, 3, 8), 2), ((1, 5, 12), 3)]:
        x = _probe(B, T, C)
        # (B, nh, T, hs), a fresh contiguous tensor like the output of weights @ v
        y = _ref_split_heads(x, nh).contiguous()
        try:
            got = f(y)
        except RuntimeError as exc:
            if "view" in str(exc) or "contiguous" in str(exc) or "stride" in str(exc):
                raise Incorrect(
                    "view() needs contiguous memory, and after transpose(1, 2) the tensor "
                    "is not: call .contiguous() before .view(B, T, C) (or use .reshape, "
                    "which copies when it must)."
                ) from None
            raise
        got = _tensor(got, "merge_heads(y)")
        if got.shape != (B, T, C):
            raise Incorrect(
                f"for y of shape (B, nh, T, hs) = {tuple(y.shape)} the result should have "
                f"shape (B, T, C) = {(B, T, C)}, got {tuple(got.shape)}."
            )
        if torch.equal(got, x):
            continue
        if torch.equal(got, y.contiguous().view(B, T, C)):
            raise Incorrect(
                "the numbers are scrambled: reshaping (B, nh, T, hs) straight to (B, T, C) "
                "mixes tokens. First move T back next to B with .transpose(1, 2), giving "
                "(B, T, nh, hs), then .contiguous().view(B, T, C)."
            )
        if torch.equal(got, y.permute(0, 2, 3, 1).reshape(B, T, C)):
            raise Incorrect(
                "the heads end up interleaved: after transpose(1, 2) the last two "
                "dimensions must be (nh, hs), so that the heads sit side by side."
            )
        raise Incorrect(
            "merge_heads(split_heads(x)) should give x back exactly; use "
            "y.transpose(1, 2).contiguous().view(B, T, C)."
        )


merge_heads = Exercise(
    name="merge_heads",
    prompt="Write merge_heads(y): (B, nh, T, hs) -> (B, T, C), the inverse of split_heads.",
    checker=_check_merge_heads,
    hint_text="Undo split_heads in reverse order: transpose(1, 2) back to (B, T, nh, hs), then "
    "merge the last two dimensions. The transposed tensor is not contiguous, so view "
    "needs .contiguous() first.",
    solution_text=(
        "def merge_heads(y):\n"
        "    B, nh, T, hs = y.shape\n"
        "    return y.transpose(1, 2).contiguous().view(B, T, nh * hs)  # (B, T, C)"
    ),
    reference=lambda: _ref_merge_heads,
    wrong_answers=[
        lambda: lambda y: y.reshape(y.size(0), y.size(2), y.size(1) * y.size(3)),
        lambda: lambda y: y.transpose(1, 2).view(y.size(0), y.size(2), y.size(1) * y.size(3)),
        lambda: (
            lambda y: y.permute(0, 2, 3, 1).reshape(y.size(0), y.size(2), y.size(1) * y.size(3))
        ),
    ],
)


# --------------------------------------------------------------------------------------------
# (c) parameter count of multi-head attention
# --------------------------------------------------------------------------------------------


def _ref_mha_param_count(C: int, n_head: int, bias: bool = True) -> int:
    return 4 * C * C + (4 * C if bias else 0)


def _check_mha_param_count(f) -> None:
    for C, nh in [(8, 2), (768, 12), (1600, 25)]:
        for bias in (True, False):
            got = f(C, nh, bias=bias)
            try:
                got = int(got)
            except (TypeError, ValueError):
                raise Incorrect(f"mha_param_count should return an integer, got {got!r}.") from None
            want = _ref_mha_param_count(C, nh, bias)
            if got == want:
                continue
            b = 1 if bias else 0
            case = f"for C={C}, n_head={nh}, bias={bias} you get {got:,}, expected {want:,}"
            if got == 3 * C * C + 3 * C * b:
                raise Incorrect(
                    f"{case}: the output projection W^O (c_proj, C x C plus C biases) is missing."
                )
            if bias and got == 4 * C * C:
                raise Incorrect(
                    f"{case}: the biases are missing: 3C for the q, k, v projections and "
                    f"C for the output projection."
                )
            if bias and got in (4 * C * C + 3 * C, 4 * C * C + C):
                raise Incorrect(
                    f"{case}: count the biases of both layers: 3C in c_attn (q, k, v) "
                    f"and C in c_proj."
                )
            if got in (nh * want, nh * 3 * C * C + C * C + (4 * C * b)):
                raise Incorrect(
                    f"{case}: the number of heads does not change the count. Each head "
                    f"projects to hs = C / n_head channels, so n_head heads together "
                    f"need C x C weights per projection, as one big matrix would."
                )
            raise Incorrect(
                f"{case}. Count c_attn (C -> 3C) and c_proj (C -> C): weights and biases."
            )


mha_param_count = Exercise(
    name="mha_param_count",
    prompt="Write mha_param_count(C, n_head, bias=True): the number of parameters of MultiHeadAttention.",
    checker=_check_mha_param_count,
    hint_text="Two linear layers: c_attn maps C -> 3C (weights 3C*C, biases 3C) and c_proj maps "
    "C -> C (weights C*C, biases C). Does n_head appear anywhere?",
    solution_text=(
        "def mha_param_count(C, n_head, bias=True):\n"
        "    # c_attn: 3C x C weights + 3C biases; c_proj: C x C weights + C biases.\n"
        "    # n_head does not matter: the heads share out the C channels.\n"
        "    return 4 * C * C + (4 * C if bias else 0)"
    ),
    reference=lambda: _ref_mha_param_count,
    wrong_answers=[
        lambda: lambda C, nh, bias=True: 3 * C * C + (3 * C if bias else 0),
        lambda: lambda C, nh, bias=True: 4 * C * C,
        lambda: lambda C, nh, bias=True: nh * (4 * C * C + (4 * C if bias else 0)),
    ],
)


# --------------------------------------------------------------------------------------------
# (d) one entry of the sinusoidal position encoding
# --------------------------------------------------------------------------------------------


def _ref_sinusoidal_pe(p: int, i: int, C: int) -> float:
    angle = p / 10000 ** (2 * (i // 2) / C)
    return math.sin(angle) if i % 2 == 0 else math.cos(angle)


def _table(entry, T: int, C: int) -> torch.Tensor:
    return torch.tensor(
        [[float(entry(p, i, C)) for i in range(C)] for p in range(T)], dtype=torch.float64
    )


def _check_sinusoidal_pe(f) -> None:
    T, C = 12, 16
    try:
        got = _table(f, T, C)
    except (TypeError, ValueError) as exc:
        raise Incorrect(
            f"sinusoidal_pe(p, i, C) should return one number (a float): {exc}"
        ) from None
    from gptlab.position import sinusoidal_positions

    want = sinusoidal_positions(T, C, dtype=torch.float64)
    if torch.allclose(got, want, atol=1e-6):
        return

    def alt(entry) -> bool:
        return torch.allclose(got, _table(entry, T, C), atol=1e-6)

    if alt(
        lambda p, i, C: (
            math.sin(p / 10000 ** (i / C)) if i % 2 == 0 else math.cos(p / 10000 ** (i / C))
        )
    ):
        raise Incorrect(
            "the odd channels use the wrong frequency: channels 2j and 2j+1 form a pair "
            "with the SAME frequency 1 / 10000^(2j/C), so use 2 * (i // 2) in the exponent."
        )
    if alt(
        lambda p, i, C: (
            math.sin(p / 10000 ** (2 * i / C)) if i % 2 == 0 else math.cos(p / 10000 ** (2 * i / C))
        )
    ):
        raise Incorrect(
            "i is the channel index, not the pair index: the exponent is 2 * (i // 2) / C, "
            "not 2 * i / C."
        )
    if alt(
        lambda p, i, C: (
            math.cos(p / 10000 ** (2 * (i // 2) / C))
            if i % 2 == 0
            else math.sin(p / 10000 ** (2 * (i // 2) / C))
        )
    ):
        raise Incorrect(
            "sine and cosine are swapped: even channels (i = 0, 2, ...) get sin, odd "
            "channels get cos."
        )
    bad = [(p, i) for p in range(T) for i in range(C) if abs(got[p, i] - want[p, i]) > 1e-6][:3]
    raise Incorrect(
        f"some entries differ, e.g. (p, i) = {bad}; use sin/cos of p / 10000^(2*(i//2)/C)."
    )


sinusoidal_pe = Exercise(
    name="sinusoidal_pe",
    prompt="Write sinusoidal_pe(p, i, C): entry i of the sinusoidal encoding of position p (width C).",
    checker=_check_sinusoidal_pe,
    hint_text="Channel i belongs to pair i // 2, whose angle is p / 10000 ** (2 * (i // 2) / C). "
    "Even i takes the sine of that angle, odd i the cosine.",
    solution_text=(
        "def sinusoidal_pe(p, i, C):\n"
        "    angle = p / 10000 ** (2 * (i // 2) / C)\n"
        "    return math.sin(angle) if i % 2 == 0 else math.cos(angle)"
    ),
    reference=lambda: _ref_sinusoidal_pe,
    wrong_answers=[
        lambda: (
            lambda p, i, C: (
                math.sin(p / 10000 ** (i / C)) if i % 2 == 0 else math.cos(p / 10000 ** (i / C))
            )
        ),
        lambda: (
            lambda p, i, C: (
                math.sin(p / 10000 ** (2 * i / C))
                if i % 2 == 0
                else math.cos(p / 10000 ** (2 * i / C))
            )
        ),
        lambda: (
            lambda p, i, C: (
                math.cos(p / 10000 ** (2 * (i // 2) / C))
                if i % 2 == 0
                else math.sin(p / 10000 ** (2 * (i // 2) / C))
            )
        ),
    ],
)
