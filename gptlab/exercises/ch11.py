"""Self-checking exercises of chapter 11 (parameter-efficient fine-tuning with LoRA).

In the notebook::

    from gptlab.exercises import ch11
    ch11.lora_param_count.check(lora_param_count)
    ch11.merged_weight.check(merged_weight)
    ch11.gpt_lora_count.check(gpt_lora_count)
"""

from __future__ import annotations

import torch

from gptlab.exercises import Exercise, Incorrect

__all__ = ["lora_param_count", "merged_weight", "gpt_lora_count"]


def _integer(value, what: str) -> int:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Incorrect(f"{what} should return a whole number, got {value!r}.")
    return value


# --------------------------------------------------------------------------------------------
# (a) parameters that LoRA adds to one Linear layer
# --------------------------------------------------------------------------------------------

_SHAPES = [(256, 768, 8), (768, 2304, 4), (1024, 1024, 16), (64, 16, 1), (300, 7, 3)]


def _ref_lora_param_count(in_features: int, out_features: int, r: int) -> int:
    return r * (in_features + out_features)


def _check_lora_param_count(f) -> None:
    for fan_in, fan_out, r in _SHAPES:
        got = _integer(f(fan_in, fan_out, r), "lora_param_count(in_features, out_features, r)")
        want = _ref_lora_param_count(fan_in, fan_out, r)
        if got == want:
            continue
        case = f"for in_features={fan_in}, out_features={fan_out}, r={r} expected {want:,}, got {got:,}"
        if got == r * fan_in * fan_out:
            raise Incorrect(
                f"{case}. r * in * out would be r full-size matrices; LoRA stores two "
                f"thin ones: A of shape (r, in) and B of shape (out, r)."
            )
        if got == fan_in * fan_out + want or got == fan_in * fan_out + fan_out + want:
            raise Incorrect(
                f"{case}. Count only what LoRA adds (A and B); the frozen W and bias "
                f"are already there."
            )
        if got == fan_in * fan_out:
            raise Incorrect(
                f"{case}. in * out is the size of W itself, what full fine-tuning "
                f"trains; LoRA trains A (r, in) and B (out, r)."
            )
        if got in (r * fan_in, r * fan_out):
            raise Incorrect(
                f"{case}. You counted one of the two matrices; there are A (r, in) and B (out, r)."
            )
        raise Incorrect(f"{case}. A has shape (r, in) and B has shape (out, r).")


lora_param_count = Exercise(
    name="lora_param_count",
    prompt="Write lora_param_count(in_features, out_features, r): the number of trainable "
    "parameters that a rank-r LoRA adapter adds to one nn.Linear(in_features, out_features).",
    checker=_check_lora_param_count,
    hint_text="Two matrices: A is (r, in_features) and B is (out_features, r).",
    solution_text=(
        "def lora_param_count(in_features, out_features, r):\n"
        "    return r * in_features + out_features * r   # A (r, in) + B (out, r)"
    ),
    reference=lambda: _ref_lora_param_count,
    wrong_answers=[
        lambda: lambda i, o, r: r * i * o,
        lambda: lambda i, o, r: i * o + r * (i + o),
        lambda: lambda i, o, r: r * i,
    ],
)


# --------------------------------------------------------------------------------------------
# (b) the merged weight
# --------------------------------------------------------------------------------------------


def _ref_merged_weight(
    W: torch.Tensor, A: torch.Tensor, B: torch.Tensor, alpha: float
) -> torch.Tensor:
    r = A.shape[0]
    return W + (alpha / r) * (B @ A)


def _merge_cases():
    g = torch.Generator().manual_seed(11)
    cases = []
    for fan_in, fan_out, r, alpha in [
        (6, 9, 2, 16.0),
        (5, 5, 4, 4.0),
        (8, 3, 1, 2.0),
        (4, 10, 3, 7.0),
    ]:
        W = torch.randn(fan_out, fan_in, generator=g)
        A = torch.randn(r, fan_in, generator=g)
        B = torch.randn(fan_out, r, generator=g)
        cases.append((W, A, B, alpha))
    return cases


def _check_merged_weight(f) -> None:
    for W, A, B, alpha in _merge_cases():
        r = A.shape[0]
        got = f(W.clone(), A.clone(), B.clone(), alpha)
        if not isinstance(got, torch.Tensor):
            raise Incorrect(f"merged_weight should return a tensor, got {type(got).__name__}.")
        case = f"(W {tuple(W.shape)}, r={r}, alpha={alpha:g})"
        if tuple(got.shape) != tuple(W.shape):
            raise Incorrect(
                f"{case}: the result has shape {tuple(got.shape)}, but it must have W's "
                f"shape (out, in) = {tuple(W.shape)}. B @ A is (out, r) @ (r, in)."
            )
        want = _ref_merged_weight(W, A, B, alpha)
        if torch.allclose(got, want, atol=1e-5, rtol=1e-5):
            continue
        if torch.allclose(got, W + B @ A, atol=1e-5, rtol=1e-5):
            raise Incorrect(
                f"{case}: you added B @ A without the scaling; the forward pass "
                f"multiplies the update by alpha / r, so the merged weight must too."
            )
        if torch.allclose(got, W + alpha * (B @ A), atol=1e-5, rtol=1e-5):
            raise Incorrect(f"{case}: the scaling is alpha / r, not alpha.")
        if torch.allclose(got, (alpha / r) * (B @ A), atol=1e-5, rtol=1e-5):
            raise Incorrect(f"{case}: that is only the update; the merged weight is W plus it.")
        raise Incorrect(f"{case}: expected W + (alpha / r) * B @ A.")


merged_weight = Exercise(
    name="merged_weight",
    prompt="Write merged_weight(W, A, B, alpha) -> the weight of the plain Linear layer that "
    "computes the same as the LoRA layer (W (out, in), A (r, in), B (out, r)).",
    checker=_check_merged_weight,
    hint_text="forward(x) = x @ W.T + (x @ A.T @ B.T) * alpha / r = x @ (W + ...).T; r is A.shape[0].",
    solution_text=(
        "def merged_weight(W, A, B, alpha):\n"
        "    r = A.shape[0]\n"
        "    return W + (alpha / r) * (B @ A)   # (out, r) @ (r, in) -> (out, in)"
    ),
    reference=lambda: _ref_merged_weight,
    wrong_answers=[
        lambda: lambda W, A, B, alpha: W + B @ A,
        lambda: lambda W, A, B, alpha: W + alpha * (B @ A),
        lambda: lambda W, A, B, alpha: W + (alpha / A.shape[0]) * (A.T @ B.T),
    ],
)


# --------------------------------------------------------------------------------------------
# (c) LoRA on every c_attn of a GPT
# --------------------------------------------------------------------------------------------


def _ref_gpt_lora_count(config, r: int) -> int:
    C = config.n_embd
    return config.n_layer * r * (C + 3 * C)


def _gpt_configs():
    from gptlab.model import GPTConfig

    return [
        GPTConfig.preset("gpt2"),
        GPTConfig.preset("gpt2-medium"),
        GPTConfig(vocab_size=4096, block_size=128, n_layer=6, n_head=4, n_embd=256),
    ]


def _check_gpt_lora_count(f) -> None:
    for config in _gpt_configs():
        for r in (1, 8):
            got = _integer(f(config, r), "gpt_lora_count(config, r)")
            want = _ref_gpt_lora_count(config, r)
            if got == want:
                continue
            L, C = config.n_layer, config.n_embd
            case = f"for n_layer={L}, n_embd={C}, r={r} expected {want:,}, got {got:,}"
            if got == L * r * (C + C):
                raise Incorrect(
                    f"{case}. c_attn computes queries, keys and values at once: it is "
                    f"Linear(C, 3C), so B has 3C rows."
                )
            if got == r * (C + 3 * C):
                raise Incorrect(
                    f"{case}. That is one layer; every one of the n_layer blocks has "
                    f"its own c_attn and its own adapter."
                )
            if got == 3 * L * r * (C + C):
                raise Incorrect(
                    f"{case}. The fused c_attn is ONE Linear(C, 3C) with one adapter: "
                    f"r * (C + 3C), not three adapters of r * (C + C)."
                )
            if got == L * r * C * 3 * C:
                raise Incorrect(f"{case}. LoRA adds r * (in + out) per layer, not r * in * out.")
            raise Incorrect(f"{case}. Each block's c_attn is Linear(C, 3C).")


gpt_lora_count = Exercise(
    name="gpt_lora_count",
    prompt="Write gpt_lora_count(config, r): the trainable parameters of a GPT after "
    "apply_lora(model, targets=('c_attn',), r=r) (everything else frozen).",
    checker=_check_gpt_lora_count,
    hint_text="One adapter per block; c_attn is Linear(C, 3C).",
    solution_text=(
        "def gpt_lora_count(config, r):\n"
        "    C = config.n_embd\n"
        "    return config.n_layer * r * (C + 3 * C)   # one Linear(C, 3C) per block"
    ),
    reference=lambda: _ref_gpt_lora_count,
    wrong_answers=[
        lambda: lambda c, r: c.n_layer * r * 2 * c.n_embd,
        lambda: lambda c, r: r * 4 * c.n_embd,
        lambda: lambda c, r: c.n_layer * r * 3 * c.n_embd * c.n_embd,
    ],
)
