"""Self-checking exercises of chapter 06 (the GPT model).

In the notebook::

    from gptlab.exercises import ch06
    ch06.param_count.check(param_count)
    ch06.training_flops.check(training_flops)
    ch06.adamw_memory_gb.check(adamw_memory_gb)
"""

from __future__ import annotations

import math

from gptlab.exercises import Exercise, Incorrect, as_number

__all__ = ["param_count", "training_flops", "adamw_memory_gb"]


_number = as_number  # shared helper: a one-element tensor or a number


# --------------------------------------------------------------------------------------------
# (a) parameter count of a GPT config
# --------------------------------------------------------------------------------------------


def _ref_param_count(config) -> int:
    V, T, C, L = config.vocab_size, config.block_size, config.n_embd, config.n_layer
    per_block = (
        2 * C + (3 * C * C + 3 * C) + (C * C + C) + 2 * C + (4 * C * C + 4 * C) + (4 * C * C + C)
    )
    return V * C + T * C + L * per_block + 2 * C  # lm_head is tied: 0 extra


def _configs():
    from gptlab.model import GPTConfig

    return [
        GPTConfig.preset("gpt2"),
        GPTConfig.preset("gpt2-xl"),
        GPTConfig(vocab_size=65, block_size=256, n_layer=6, n_head=6, n_embd=384),
        GPTConfig(vocab_size=1000, block_size=64, n_layer=1, n_head=2, n_embd=32),
    ]


def _check_param_count(f) -> None:
    for config in _configs():
        got = _number(f(config), "param_count(config)")
        want = _ref_param_count(config)
        if got == want:
            continue
        V, T, C, L = config.vocab_size, config.block_size, config.n_embd, config.n_layer
        size = (
            f"for vocab_size={V}, block_size={T}, n_layer={L}, n_embd={C} expected "
            f"{want:,}, got {int(got):,}"
        )
        diff = got - want
        if diff == V * C:
            raise Incorrect(
                f"{size}: V*C too many. lm_head shares its weight with wte "
                f"(weight tying), so it adds no parameters."
            )
        if diff == -T * C:
            raise Incorrect(f"{size}: the position embedding wpe (block_size * n_embd) is missing.")
        if diff == -V * C:
            raise Incorrect(f"{size}: the token embedding wte (vocab_size * n_embd) is missing.")
        if diff == -(4 * L + 2) * C:
            raise Incorrect(
                f"{size}: the LayerNorm parameters are missing: ln_1 and ln_2 in every "
                f"block and ln_f at the end each have a gain and a bias of C values."
            )
        if diff == -(2 * L + 1) * C:
            raise Incorrect(
                f"{size}: each LayerNorm has TWO vectors of C values (gain and bias); "
                f"you counted one."
            )
        if diff == -(2 * C):
            raise Incorrect(f"{size}: the final LayerNorm ln_f (2C) is missing.")
        if diff == -L * (3 * C + C + 4 * C + C):
            raise Incorrect(
                f"{size}: the biases of the four Linear layers in each block are "
                f"missing (3C + C + 4C + C = 9C per block)."
            )
        if diff == -L * 4 * C * C:
            raise Incorrect(
                f"{size}: the MLP's hidden width is 4C, so each of its two matrices "
                f"has 4C^2 weights."
            )
        raise Incorrect(
            f"{size}. Count wte, wpe, 12C^2 + 13C per block, and ln_f; lm_head is tied."
        )


def _wrong_counts_lm_head():
    return lambda c: _ref_param_count(c) + c.vocab_size * c.n_embd


def _wrong_no_layernorm():
    return lambda c: _ref_param_count(c) - (4 * c.n_layer + 2) * c.n_embd


def _wrong_no_wpe():
    return lambda c: _ref_param_count(c) - c.block_size * c.n_embd


param_count = Exercise(
    name="param_count",
    prompt="Write param_count(config) -> the number of parameters of GPT(config) (bias=True), "
    "from the config's fields alone.",
    checker=_check_param_count,
    hint_text="wte V*C + wpe T*C + n_layer * (12 C^2 + 13 C) + ln_f 2C. The output layer is "
    "the token embedding (tied), so it adds nothing.",
    solution_text=(
        "def param_count(config):\n"
        "    V, T, C, L = config.vocab_size, config.block_size, config.n_embd, config.n_layer\n"
        "    per_block = 2*C + (3*C*C + 3*C) + (C*C + C) + 2*C + (4*C*C + 4*C) + (4*C*C + C)\n"
        "    return V*C + T*C + L*per_block + 2*C   # lm_head tied to wte: 0"
    ),
    reference=lambda: _ref_param_count,
    wrong_answers=[_wrong_counts_lm_head, _wrong_no_layernorm, _wrong_no_wpe],
)


# --------------------------------------------------------------------------------------------
# (b) training FLOPs 6 N D
# --------------------------------------------------------------------------------------------


def _ref_training_flops(n_params: float, n_tokens: float) -> float:
    return 6 * n_params * n_tokens


def _check_training_flops(f) -> None:
    for N, D in [(124_439_808, 10_000_000_000), (1_000_000, 3), (175e9, 300e9)]:
        got = _number(f(N, D), "training_flops(n_params, n_tokens)")
        want = 6 * N * D
        if math.isclose(got, want, rel_tol=1e-9):
            continue
        ratio = got / (N * D) if N * D else float("nan")
        if math.isclose(ratio, 2, rel_tol=1e-9):
            raise Incorrect(
                "2 N D counts the forward pass only (a multiply and an add per weight "
                "per token). Training also runs the backward pass, which costs about "
                "twice as much again: 6 N D in all."
            )
        if math.isclose(ratio, 4, rel_tol=1e-9):
            raise Incorrect("4 N D is the backward pass alone; add the forward pass (2 N D).")
        if math.isclose(ratio, 3, rel_tol=1e-9):
            raise Incorrect(
                "count 2 FLOPs per multiply-add (one multiply, one add): forward "
                "2 N D, backward 4 N D."
            )
        raise Incorrect(f"for N={N:.4g}, D={D:.4g} expected about {want:.4g} FLOPs, got {got:.4g}.")


training_flops = Exercise(
    name="training_flops",
    prompt="Write training_flops(n_params, n_tokens): the approximate FLOPs to train a model with "
    "N parameters on D tokens.",
    checker=_check_training_flops,
    hint_text="Forward: about 2 FLOPs per parameter per token. Backward: about twice the forward.",
    solution_text=(
        "def training_flops(n_params, n_tokens):\n"
        "    return 6 * n_params * n_tokens   # 2ND forward + 4ND backward"
    ),
    reference=lambda: _ref_training_flops,
    wrong_answers=[lambda: lambda N, D: 2 * N * D, lambda: lambda N, D: 4 * N * D],
)


# --------------------------------------------------------------------------------------------
# (c) memory of weights + AdamW state
# --------------------------------------------------------------------------------------------


def _ref_adamw_memory_gb(n_params: float) -> float:
    return n_params * (4 + 4 + 4) / 1e9  # fp32 weights + AdamW's two fp32 moments


def _check_adamw_memory_gb(f) -> None:
    for N in [124_439_808, 1_557_611_200, 1_000]:
        got = _number(f(N), "adamw_memory_gb(n_params)")
        want = _ref_adamw_memory_gb(N)
        if math.isclose(got, want, rel_tol=1e-6):
            continue
        per_param = got * 1e9 / N
        if math.isclose(per_param, 4, rel_tol=1e-6):
            raise Incorrect(
                "that is the weights alone (4 bytes each). AdamW keeps two more float32 "
                "numbers per parameter (running means of the gradient and of its square)."
            )
        if math.isclose(per_param, 8, rel_tol=1e-6):
            raise Incorrect(
                "AdamW keeps TWO float32 numbers per parameter (first and second moment), "
                "on top of the 4-byte weight: 12 bytes in all."
            )
        if math.isclose(per_param, 16, rel_tol=1e-6):
            raise Incorrect(
                "16 bytes per parameter includes the gradients; this exercise asks for "
                "weights and optimizer state only (12 bytes per parameter)."
            )
        if math.isclose(got * 2**30 / N, 12, rel_tol=1e-6):
            raise Incorrect("you divided by 2**30 (GiB). Use GB = 10**9 bytes here.")
        if math.isclose(per_param, 12e9, rel_tol=1e-6) or math.isclose(got, 12 * N, rel_tol=1e-6):
            raise Incorrect("that is in bytes; divide by 1e9 to get GB.")
        raise Incorrect(f"for N={N:,} expected {want:.6g} GB, got {got:.6g}.")


adamw_memory_gb = Exercise(
    name="adamw_memory_gb",
    prompt="Write adamw_memory_gb(n_params): GB (10**9 bytes) for float32 weights plus AdamW's "
    "optimizer state (no gradients, no activations).",
    checker=_check_adamw_memory_gb,
    hint_text="Weights: 4 bytes. AdamW: two float32 moments, 4 + 4 bytes. 12 bytes per parameter.",
    solution_text=(
        "def adamw_memory_gb(n_params):\n"
        "    return n_params * (4 + 2 * 4) / 1e9   # fp32 weight + AdamW's m and v"
    ),
    reference=lambda: _ref_adamw_memory_gb,
    wrong_answers=[lambda: lambda N: 4 * N / 1e9, lambda: lambda N: 16 * N / 1e9],
)
