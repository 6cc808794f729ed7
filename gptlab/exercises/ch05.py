"""Self-checking exercises of chapter 05 (the transformer block).

In the notebook::

    from gptlab.exercises import ch05
    ch05.layer_norm.check(layer_norm)
    ch05.gelu_tanh.check(gelu_tanh)
    ch05.pre_ln_block.check(pre_ln_block)
    ch05.residual_init_std.check(residual_init_std)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gptlab.exercises import Exercise, Incorrect

__all__ = ["layer_norm", "gelu_tanh", "pre_ln_block", "residual_init_std"]


def _tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Incorrect(f"{what} should be a torch.Tensor, got {type(value).__name__}.")
    return value


# --------------------------------------------------------------------------------------------
# (a) LayerNorm
# --------------------------------------------------------------------------------------------


def _ref_layer_norm(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # biased: divide by C
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def _layer_norm_cases():
    g = torch.Generator().manual_seed(5)
    cases = []
    for shape, scale, eps in [
        ((2, 3, 8), 1.0, 1e-5),
        ((5, 6), 3.0, 1e-5),
        ((4, 7, 12), 1e-3, 1e-5),
        ((3, 10), 1.0, 0.1),
    ]:
        C = shape[-1]
        x = scale * torch.randn(shape, generator=g, dtype=torch.float64) + 0.5
        w = 1.0 + 0.3 * torch.randn(C, generator=g, dtype=torch.float64)
        b = 0.2 * torch.randn(C, generator=g, dtype=torch.float64)
        cases.append((x, w, b, eps))
    return cases


def _check_layer_norm(f) -> None:
    for x, w, b, eps in _layer_norm_cases():
        got = _tensor(
            f(x.clone(), w.clone(), b.clone(), eps=eps), "layer_norm(x, weight, bias, eps)"
        )
        want = F.layer_norm(x, (x.size(-1),), w, b, eps)
        if got.shape != x.shape:
            raise Incorrect(
                f"the output should have the input's shape {tuple(x.shape)}, got "
                f"{tuple(got.shape)}; keep the reduced dimension with keepdim=True."
            )
        if torch.allclose(got, want, atol=1e-5, rtol=1e-4):
            continue
        mean = x.mean(-1, keepdim=True)
        unbiased = x.var(-1, keepdim=True, unbiased=True)
        if torch.allclose(
            got, (x - mean) / torch.sqrt(unbiased + eps) * w + b, atol=1e-5, rtol=1e-4
        ):
            raise Incorrect(
                "you used the unbiased variance (dividing by C - 1). LayerNorm divides "
                "by C: use x.var(dim=-1, unbiased=False) or the mean of squared deviations."
            )
        std = ((x - mean) ** 2).mean(-1, keepdim=True).sqrt()
        if torch.allclose(got, (x - mean) / (std + eps) * w + b, atol=1e-5, rtol=1e-4):
            raise Incorrect(
                "eps is added outside the square root. LayerNorm computes "
                "(x - mean) / sqrt(var + eps); the difference shows when the variance is small."
            )
        plain = _ref_layer_norm(x, torch.ones_like(w), torch.zeros_like(b), eps)
        if torch.allclose(got, plain, atol=1e-5, rtol=1e-4):
            raise Incorrect(
                "the normalisation is right, but the gain and shift are missing: "
                "multiply by weight and add bias at the end."
            )
        if torch.allclose(got, plain * w, atol=1e-5, rtol=1e-4):
            raise Incorrect("the bias (shift) is missing: add bias after multiplying by weight.")
        if x.dim() >= 2:
            m0 = x.mean(0, keepdim=True)
            v0 = ((x - m0) ** 2).mean(0, keepdim=True)
            if torch.allclose(got, (x - m0) / torch.sqrt(v0 + eps) * w + b, atol=1e-5, rtol=1e-4):
                raise Incorrect(
                    "you normalised over the batch dimension (dim=0), which is what "
                    "BatchNorm does. LayerNorm normalises each vector over its channels: dim=-1."
                )
        raise Incorrect(
            "the result differs from LayerNorm: for each vector, subtract the mean over "
            "the last dimension, divide by sqrt(variance + eps), then apply weight and bias."
        )


def _wrong_unbiased():
    def f(x, weight, bias, eps=1e-5):
        mean = x.mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(x.var(-1, keepdim=True) + eps) * weight + bias

    return f


def _wrong_batch_dim():
    def f(x, weight, bias, eps=1e-5):
        mean = x.mean(0, keepdim=True)
        var = ((x - mean) ** 2).mean(0, keepdim=True)
        return (x - mean) / torch.sqrt(var + eps) * weight + bias

    return f


def _wrong_eps_outside():
    def f(x, weight, bias, eps=1e-5):
        mean = x.mean(-1, keepdim=True)
        std = ((x - mean) ** 2).mean(-1, keepdim=True).sqrt()
        return (x - mean) / (std + eps) * weight + bias

    return f


def _wrong_no_affine():
    def f(x, weight, bias, eps=1e-5):
        mean = x.mean(-1, keepdim=True)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + eps)

    return f


layer_norm = Exercise(
    name="layer_norm",
    prompt="Write layer_norm(x, weight, bias, eps=1e-5) for x of shape (..., C), normalising "
    "over the last dimension, without calling torch's layer_norm.",
    checker=_check_layer_norm,
    hint_text="mean = x.mean(dim=-1, keepdim=True); the variance is the MEAN of (x - mean)**2 "
    "(divide by C, not C - 1); then (x - mean) / torch.sqrt(var + eps) * weight + bias.",
    solution_text=(
        "def layer_norm(x, weight, bias, eps=1e-5):\n"
        "    mean = x.mean(dim=-1, keepdim=True)                   # (..., 1)\n"
        "    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)    # (..., 1), divide by C\n"
        "    return (x - mean) / torch.sqrt(var + eps) * weight + bias"
    ),
    reference=lambda: _ref_layer_norm,
    wrong_answers=[_wrong_unbiased, _wrong_batch_dim, _wrong_eps_outside, _wrong_no_affine],
)


# --------------------------------------------------------------------------------------------
# (b) GELU, tanh approximation
# --------------------------------------------------------------------------------------------


def _ref_gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _check_gelu_tanh(f) -> None:
    x = torch.linspace(-6.0, 6.0, 241, dtype=torch.float64)
    got = _tensor(f(x.clone()), "gelu_tanh(x)")
    if got.shape != x.shape:
        raise Incorrect(
            f"gelu_tanh should act elementwise and keep the shape {tuple(x.shape)}, "
            f"got {tuple(got.shape)}."
        )
    got = got.to(torch.float64)
    want = _ref_gelu_tanh(x)
    if torch.allclose(got, want, atol=1e-6):
        return
    c = math.sqrt(2.0 / math.pi)
    variants = [
        (
            0.5 * x * (1.0 + torch.tanh(c * x)),
            "the cubic term is missing: the tanh's argument is sqrt(2/pi) * (x + 0.044715 * x**3).",
        ),
        (
            0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0))),
            "that is the exact GELU, x * Phi(x) with the error function. This exercise asks for the "
            "tanh approximation GPT-2 uses: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).",
        ),
        (
            0.5 * x * (1.0 + torch.tanh(x + 0.044715 * x**3)),
            "the factor sqrt(2/pi) in front of (x + 0.044715 x^3) is missing.",
        ),
        (
            x * (1.0 + torch.tanh(c * (x + 0.044715 * x**3))),
            "the factor 0.5 is missing: GELU(x) = 0.5 * x * (1 + tanh(...)).",
        ),
        (torch.relu(x), "that is ReLU; GELU is smooth and slightly negative for negative inputs."),
    ]
    for value, hint in variants:
        if torch.allclose(got, value, atol=1e-6):
            raise Incorrect(hint)
    raise Incorrect(
        "the values differ from 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3)))."
    )


def _wrong_no_cubic():
    return lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * x))


def _wrong_exact():
    return lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


gelu_tanh = Exercise(
    name="gelu_tanh",
    prompt="Write gelu_tanh(x): GELU with the tanh approximation used by GPT-2, elementwise.",
    checker=_check_gelu_tanh,
    hint_text="0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))).",
    solution_text=(
        "def gelu_tanh(x):\n"
        "    inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)\n"
        "    return 0.5 * x * (1.0 + torch.tanh(inner))"
    ),
    reference=lambda: _ref_gelu_tanh,
    wrong_answers=[_wrong_no_cubic, _wrong_exact],
)


# --------------------------------------------------------------------------------------------
# (c) a pre-LN block from its sub-layers
# --------------------------------------------------------------------------------------------


def _ref_pre_ln_block(x, ln_1, attn, ln_2, mlp):
    x = x + attn(ln_1(x))
    return x + mlp(ln_2(x))


def _sublayers(C: int = 16, seed: int = 11):
    from gptlab.attention import MultiHeadAttention

    with torch.random.fork_rng():  # leave the learner's random state untouched
        torch.manual_seed(seed)
        ln_1, ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
        attn = MultiHeadAttention(C, 2)
        mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(approximate="tanh"), nn.Linear(4 * C, C))
        with torch.no_grad():  # make the LayerNorm parameters differ from each other and from 1, 0
            for ln in (ln_1, ln_2):
                ln.weight.add_(0.5 * torch.randn(C))
                ln.bias.add_(0.5 * torch.randn(C))
    for m in (ln_1, ln_2, attn, mlp):
        m.eval()
    return ln_1, attn, ln_2, mlp


def _check_pre_ln_block(f) -> None:
    ln_1, attn, ln_2, mlp = _sublayers()
    g = torch.Generator().manual_seed(2)
    x = 2.0 * torch.randn(3, 5, 16, generator=g) + 1.0  # (B, T, C), far from normalised
    with torch.no_grad():
        got = _tensor(f(x.clone(), ln_1, attn, ln_2, mlp), "pre_ln_block(x, ln_1, attn, ln_2, mlp)")
        want = _ref_pre_ln_block(x, ln_1, attn, ln_2, mlp)
        if got.shape != x.shape:
            raise Incorrect(
                f"the block maps (B, T, C) to (B, T, C): expected {tuple(x.shape)}, "
                f"got {tuple(got.shape)}."
            )
        if torch.allclose(got, want, atol=1e-5):
            return
        h = ln_1(x + attn(x))
        post = ln_2(h + mlp(h))
        if torch.allclose(got, post, atol=1e-5):
            raise Incorrect(
                "that is the post-LN block of the original Transformer (normalise "
                "after adding). GPT-2 normalises the INPUT of each sub-layer: "
                "x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x))."
            )
        h = attn(ln_1(x))
        if torch.allclose(got, h + mlp(ln_2(h)), atol=1e-5) or torch.allclose(
            got, mlp(ln_2(x + attn(ln_1(x)))), atol=1e-5
        ):
            raise Incorrect(
                "a residual connection is missing: each sub-layer's output is ADDED "
                "to its input (x = x + ...)."
            )
        if torch.allclose(got, x + attn(ln_1(x)) + mlp(ln_2(x)), atol=1e-5):
            raise Incorrect(
                "you ran attention and the MLP in parallel on the same x. In GPT-2 they "
                "run one after the other: the MLP reads x after the attention update."
            )
        x1 = x + attn(ln_1(x))
        if torch.allclose(got, x1 + mlp(ln_1(x1)), atol=1e-5):
            raise Incorrect(
                "the MLP should read through ln_2, not ln_1: each sub-layer has its own "
                "LayerNorm with its own gain and shift."
            )
    raise Incorrect("the output differs from x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)).")


def _wrong_post_ln():
    def f(x, ln_1, attn, ln_2, mlp):
        x = ln_1(x + attn(x))
        return ln_2(x + mlp(x))

    return f


def _wrong_parallel():
    return lambda x, ln_1, attn, ln_2, mlp: x + attn(ln_1(x)) + mlp(ln_2(x))


def _wrong_no_residual():
    def f(x, ln_1, attn, ln_2, mlp):
        x = attn(ln_1(x))
        return x + mlp(ln_2(x))

    return f


pre_ln_block = Exercise(
    name="pre_ln_block",
    prompt="Write pre_ln_block(x, ln_1, attn, ln_2, mlp): GPT-2's block forward for x (B, T, C).",
    checker=_check_pre_ln_block,
    hint_text="Two residual updates, each normalising its sub-layer's input: "
    "x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x)).",
    solution_text=(
        "def pre_ln_block(x, ln_1, attn, ln_2, mlp):\n"
        "    x = x + attn(ln_1(x))   # (B, T, C): tokens exchange information\n"
        "    x = x + mlp(ln_2(x))    # (B, T, C): each token on its own\n"
        "    return x"
    ),
    reference=lambda: _ref_pre_ln_block,
    wrong_answers=[_wrong_post_ln, _wrong_parallel, _wrong_no_residual],
)


# --------------------------------------------------------------------------------------------
# (d) the scaled initialisation of residual projections
# --------------------------------------------------------------------------------------------


def _ref_residual_init_std(n_layer: int, base_std: float = 0.02) -> float:
    return base_std / math.sqrt(2 * n_layer)


def _check_residual_init_std(f) -> None:
    for n_layer, base in [(12, 0.02), (1, 0.02), (48, 0.02), (6, 0.05)]:
        result = f(n_layer, base)
        if isinstance(result, torch.Tensor) and result.numel() == 1:
            result = result.item()
        if isinstance(result, bool) or not isinstance(result, (int, float)):
            raise Incorrect(
                f"residual_init_std should return a number, got {type(result).__name__}."
            )
        value = float(result)
        want = _ref_residual_init_std(n_layer, base)
        if math.isclose(value, want, rel_tol=1e-6):
            continue
        if math.isclose(value, base / math.sqrt(n_layer), rel_tol=1e-6):
            raise Incorrect(
                "each block has TWO residual additions (attention and MLP), so there "
                "are 2 * n_layer of them: divide by sqrt(2 * n_layer)."
            )
        if math.isclose(value, base / (2 * n_layer), rel_tol=1e-6):
            raise Incorrect(
                "variances add, so to keep the sum of 2 * n_layer additions at the "
                "variance of one, each STANDARD DEVIATION is divided by the square "
                "root of 2 * n_layer, not by 2 * n_layer."
            )
        if math.isclose(value, base * math.sqrt(2 * n_layer), rel_tol=1e-6):
            raise Incorrect(
                "the scaling goes the other way: deeper models need SMALLER weights in "
                "the residual projections; divide by sqrt(2 * n_layer)."
            )
        raise Incorrect(
            f"for n_layer={n_layer} and base_std={base} expected {want:.6g}, got {value:.6g}."
        )


residual_init_std = Exercise(
    name="residual_init_std",
    prompt="Write residual_init_std(n_layer, base_std=0.02): the std GPT-2 uses for the weights of "
    "the output projections that write into the residual stream.",
    checker=_check_residual_init_std,
    hint_text="There are 2 * n_layer residual additions (attention and MLP in every block). "
    "Variances add, so scale the standard deviation by 1 / sqrt(2 * n_layer).",
    solution_text=(
        "def residual_init_std(n_layer, base_std=0.02):\n"
        "    return base_std / math.sqrt(2 * n_layer)"
    ),
    reference=lambda: _ref_residual_init_std,
    wrong_answers=[
        lambda: lambda n_layer, base_std=0.02: base_std / math.sqrt(n_layer),
        lambda: lambda n_layer, base_std=0.02: base_std / (2 * n_layer),
    ],
)
