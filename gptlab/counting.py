"""Counting a GPT's parameters, training FLOPs and memory by hand (chapter 06): arithmetic on a
:class:`gptlab.model.GPTConfig` only, so instant even for the largest GPT-2. Letters: ``V``
vocabulary, ``T`` block size, ``C`` channels, ``L`` blocks, ``N`` parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from gptlab.model import GPTConfig


def gpt2_param_count_by_hand(config: GPTConfig) -> dict[str, int]:
    """The parameters of a GPT-2-style model, term by term (``b = 1`` with biases, else 0).

    The ``"block: ..."`` terms are for one block, ``"all blocks"`` is ``L`` times their sum;
    the other terms add up to :func:`param_count`. ``lm_head`` shares ``wte``'s matrix: 0."""
    V, T, C, L = config.vocab_size, config.block_size, config.n_embd, config.n_layer
    b = 1 if config.bias else 0
    block = {
        "block: ln_1": C + b * C,
        "block: attn.c_attn": C * 3 * C + b * 3 * C,
        "block: attn.c_proj": C * C + b * C,
        "block: ln_2": C + b * C,
        "block: mlp.c_fc": C * 4 * C + b * 4 * C,
        "block: mlp.c_proj": 4 * C * C + b * C,
    }
    terms = {"wte": V * C, "wpe": T * C, **block, "all blocks": L * sum(block.values())}
    return terms | {"ln_f": C + b * C, "lm_head (tied)": 0}


def param_count(config: GPTConfig) -> int:
    """Total number of parameters of ``GPT(config)``, tied weights counted once."""
    terms = gpt2_param_count_by_hand(config)
    return sum(v for k, v in terms.items() if not k.startswith("block: "))


def training_memory_bytes(
    n_params: int, bytes_per_weight: int = 4, *, gradients: bool = False, adamw: bool = False
) -> int:
    """Bytes for the weights (4 for float32, 2 for bfloat16), optionally one gradient each (same
    size) and AdamW's two moments (float32 whatever the weights); activations not included."""
    if bytes_per_weight <= 0:
        raise ValueError(f"bytes_per_weight must be positive, got {bytes_per_weight}.")
    return int(n_params) * (bytes_per_weight * (2 if gradients else 1) + (8 if adamw else 0))
