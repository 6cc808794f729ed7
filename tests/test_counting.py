"""Tests for gptlab.counting: hand counts agree with the model and with Hugging Face."""

from __future__ import annotations

import pytest
import torch

from gptlab.counting import (
    gpt2_param_count_by_hand,
    param_count,
    training_memory_bytes,
)
from gptlab.model import GPT, GPTConfig

PRESET_TOTALS = {
    "gpt2": 124_439_808,
    "gpt2-medium": 354_823_168,
    "gpt2-large": 774_030_080,
    "gpt2-xl": 1_557_611_200,
}


@pytest.mark.parametrize("name", list(PRESET_TOTALS))
def test_presets_match_the_released_sizes_and_the_model(name):
    config = GPTConfig.preset(name)
    assert param_count(config) == PRESET_TOTALS[name]
    with torch.device("meta"):  # no memory is allocated
        model = GPT(config)
    assert model.num_params() == PRESET_TOTALS[name]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("spec", [(97, 32, 1, 1, 16), (1000, 64, 3, 4, 32), (50, 16, 2, 8, 64)])
def test_small_configs_match_the_model(spec, bias):
    V, T, L, H, C = spec
    config = GPTConfig(V, T, L, H, C, bias=bias)
    with torch.device("meta"):
        model = GPT(config)
    assert param_count(config) == model.num_params()


def test_terms_of_gpt2_small():
    terms = gpt2_param_count_by_hand(GPTConfig.preset("gpt2"))
    C = 768
    assert terms["wte"] == 50257 * C
    assert terms["wpe"] == 1024 * C
    per_block = sum(v for k, v in terms.items() if k.startswith("block: "))
    assert per_block == 12 * C * C + 13 * C == 7_087_872
    assert terms["all blocks"] == 12 * per_block
    assert terms["ln_f"] == 2 * C
    assert terms["lm_head (tied)"] == 0


def test_hugging_face_counts_agree():
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPTConfig(vocab_size=300, block_size=40, n_layer=2, n_head=4, n_embd=32)
    hf_config = GPT2Config(vocab_size=300, n_positions=40, n_layer=2, n_head=4, n_embd=32)
    with torch.device("meta"):
        hf = GPT2LMHeadModel(hf_config)
    assert sum(p.numel() for p in hf.parameters()) == param_count(config)


def test_memory():
    n = 1_557_611_200
    assert training_memory_bytes(n) == 4 * n
    assert training_memory_bytes(n, 2) == 2 * n
    assert training_memory_bytes(n, adamw=True) == 12 * n
    assert training_memory_bytes(n, gradients=True, adamw=True) == 16 * n
    assert training_memory_bytes(n, 2, gradients=True, adamw=True) == 12 * n
    with pytest.raises(ValueError):
        training_memory_bytes(n, 0)
