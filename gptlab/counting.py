"""Counting a GPT's parameters, training FLOPs and memory by hand (chapter 06).

The functions here only do arithmetic on a :class:`gptlab.model.GPTConfig`; they never build a
model, so they answer instantly even for the largest GPT-2. Chapter 06 checks them against
``GPT(config).num_params()`` (built on the ``meta`` device) and against Hugging Face's
``GPT2LMHeadModel``.

Letters: ``V`` vocabulary size, ``T`` block size (positions), ``C`` channels (``n_embd``),
``L`` number of blocks (``n_layer``), ``N`` number of parameters, ``D`` number of tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from gptlab.model import GPTConfig

__all__ = [
    "gpt2_param_count_by_hand",
    "param_count",
    "training_flops",
    "training_memory_bytes",
]


def gpt2_param_count_by_hand(config: GPTConfig) -> dict[str, int]:
    """The parameters of a GPT-2-style model, term by term.

    Each LayerNorm has a gain and (with ``bias=True``) a shift of ``C`` values; each Linear layer
    ``in -> out`` has ``in * out`` weights and (with ``bias=True``) ``out`` biases. The output
    layer shares its matrix with the token embedding, so it adds nothing.

    Returns an ordered dict; the per-block terms are for *one* block, ``"all blocks"`` is ``L``
    times their sum, and the other terms add up to the total (:func:`param_count`)::

        wte                 V * C
        wpe                 T * C
        block: ln_1         2C          (C without biases)
        block: attn.c_attn  3C^2 + 3C   (query, key and value projections, fused)
        block: attn.c_proj  C^2 + C
        block: ln_2         2C
        block: mlp.c_fc     4C^2 + 4C
        block: mlp.c_proj   4C^2 + C
        all blocks          L * (12C^2 + 13C)
        ln_f                2C
        lm_head (tied)      0
    """
    V, T, C, L = config.vocab_size, config.block_size, config.n_embd, config.n_layer
    b = 1 if config.bias else 0  # with biases, a Linear or LayerNorm layer has its extra vector
    block = {
        "block: ln_1": C + b * C,
        "block: attn.c_attn": C * 3 * C + b * 3 * C,
        "block: attn.c_proj": C * C + b * C,
        "block: ln_2": C + b * C,
        "block: mlp.c_fc": C * 4 * C + b * 4 * C,
        "block: mlp.c_proj": 4 * C * C + b * C,
    }
    terms = {"wte": V * C, "wpe": T * C, **block}
    terms["all blocks"] = L * sum(block.values())
    terms["ln_f"] = C + b * C
    terms["lm_head (tied)"] = 0
    return terms


def param_count(config: GPTConfig) -> int:
    """Total number of parameters of ``GPT(config)``, tied weights counted once."""
    terms = gpt2_param_count_by_hand(config)
    return sum(v for k, v in terms.items() if not k.startswith("block: "))


def training_flops(n_params: int, n_tokens: int) -> int:
    """Approximate FLOPs to train ``n_params`` parameters on ``n_tokens`` tokens: ``6 N D``.

    The forward pass costs about two FLOPs (a multiply and an add) per parameter per token, the
    backward pass about twice that (Kaplan et al., 2020). The attention-score term, small for
    short contexts, is left out.
    """
    return 6 * int(n_params) * int(n_tokens)


def training_memory_bytes(
    n_params: int,
    bytes_per_weight: int = 4,
    *,
    gradients: bool = False,
    adamw: bool = False,
) -> int:
    """Bytes for the weights and, optionally, their gradients and AdamW's state.

    Args:
        n_params: number of parameters ``N``.
        bytes_per_weight: 4 for float32, 2 for bfloat16/float16; gradients use the same size.
        gradients: add one gradient per weight.
        adamw: add AdamW's two running averages (first and second moments), kept in float32
            (4 bytes each) whatever the weights' type.

    Activations (which depend on batch size and sequence length) are not included.
    """
    if bytes_per_weight <= 0:
        raise ValueError(f"bytes_per_weight must be positive, got {bytes_per_weight}.")
    per_param = bytes_per_weight
    if gradients:
        per_param += bytes_per_weight
    if adamw:
        per_param += 2 * 4
    return int(n_params) * per_param
