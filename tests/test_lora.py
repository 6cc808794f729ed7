"""Tests for gptlab.finetune.lora: parameter counts, identity at the start, training touches only
the adapters, merging, agreement with the ``peft`` library, and clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gptlab.finetune.lora import (
    LoRALinear,
    apply_lora,
    count_trainable,
    lora_layers,
    lora_parameters,
    merge_lora,
)
from gptlab.model import GPT, GPTConfig

ATOL = 1e-5
CONFIG = GPTConfig(vocab_size=97, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.0)


def _gpt(seed: int = 0, config: GPTConfig = CONFIG) -> GPT:
    torch.manual_seed(seed)
    return GPT(config).eval()


def _ids(seed: int = 1, B: int = 3, T: int = 12, V: int = CONFIG.vocab_size) -> torch.Tensor:
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


def _randomize_b(model: nn.Module, seed: int = 2, scale: float = 0.05) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.copy_(scale * torch.randn(layer.lora_B.shape, generator=g))


# ---------------------------------------------------------------------------------------------
# One layer
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("in_f,out_f,r", [(32, 96, 1), (32, 96, 4), (64, 16, 8), (7, 5, 3)])
def test_rank_r_adds_r_times_in_plus_out(in_f, out_f, r):
    layer = LoRALinear(nn.Linear(in_f, out_f), r=r)
    assert layer.lora_A.shape == (r, in_f) and layer.lora_B.shape == (out_f, r)
    assert count_trainable(layer) == r * (in_f + out_f)
    assert sum(p.numel() for p in layer.parameters()) == r * (in_f + out_f) + in_f * out_f + out_f


def test_layer_starts_as_identity_change_and_matches_formula():
    torch.manual_seed(0)
    base = nn.Linear(10, 6)
    layer = LoRALinear(base, r=3, alpha=6)
    assert torch.count_nonzero(layer.lora_B) == 0 and torch.count_nonzero(layer.lora_A) > 0
    x = torch.randn(4, 5, 10)  # (B, T, in)
    torch.testing.assert_close(layer(x), base(x), rtol=0, atol=0)
    with torch.no_grad():
        layer.lora_B.normal_()
    expected = x @ base.weight.T + base.bias + (x @ layer.lora_A.T @ layer.lora_B.T) * 2.0
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=ATOL)
    assert layer.scaling == 2.0
    # the merged layer has W + scaling B A and the same output
    merged = layer.merge()
    assert type(merged) is nn.Linear
    torch.testing.assert_close(merged.weight, base.weight + 2.0 * layer.lora_B @ layer.lora_A)
    torch.testing.assert_close(merged(x), layer(x), rtol=0, atol=ATOL)


def test_base_is_frozen_and_shared_not_copied():
    base = nn.Linear(8, 8)
    layer = LoRALinear(base, r=2)
    assert layer.base is base and not base.weight.requires_grad and not base.bias.requires_grad
    assert layer.lora_A.requires_grad and layer.lora_B.requires_grad


def test_kaiming_init_is_uniform_within_linear_bound_and_gaussian_option():
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(100, 20), r=8)
    bound = 1 / 100**0.5
    assert layer.lora_A.abs().max() <= bound
    assert layer.lora_A.abs().max() > 0.9 * bound
    g = LoRALinear(nn.Linear(100, 20), r=8, init="gaussian")
    assert 0.08 < g.lora_A.std().item() < 0.17  # std 1/r = 0.125


def test_dropout_only_on_the_update_path_and_only_in_training():
    torch.manual_seed(0)
    base = nn.Linear(16, 16)
    layer = LoRALinear(base, r=4, dropout=0.5)
    x = torch.randn(2, 16)
    with torch.no_grad():
        layer.lora_B.normal_()
    layer.eval()
    out_eval = layer(x)
    torch.testing.assert_close(out_eval, base(x) + x @ layer.delta_weight().T, atol=ATOL, rtol=0)
    layer.train()
    assert not torch.allclose(layer(x), out_eval)
    with torch.no_grad():
        layer.lora_B.zero_()
    torch.testing.assert_close(layer(x), base(x))  # B = 0: dropout has nothing to act on


# ---------------------------------------------------------------------------------------------
# Whole models
# ---------------------------------------------------------------------------------------------


TARGET_SETS = [
    (("c_attn",), lambda C: C + 3 * C),
    (("c_attn", "attn.c_proj"), lambda C: (C + 3 * C) + (C + C)),
    (("c_attn", "c_proj"), lambda C: (C + 3 * C) + (C + C) + (4 * C + C)),
    (("c_attn", "c_proj", "c_fc"), lambda C: (C + 3 * C) + (C + C) + (4 * C + C) + (C + 4 * C)),
]


@pytest.mark.parametrize(
    "targets,per_rank_per_layer",
    TARGET_SETS,
    ids=["c_attn", "attention", "attn+mlp.c_proj", "all-linear"],
)
@pytest.mark.parametrize("r", [1, 4])
def test_model_trainable_count_equals_formula(targets, per_rank_per_layer, r):
    model = _gpt()
    total_before = model.num_params()
    apply_lora(model, targets=targets, r=r)
    expected = CONFIG.n_layer * r * per_rank_per_layer(CONFIG.n_embd)
    assert count_trainable(model) == expected
    assert sum(p.numel() for p in lora_parameters(model)) == expected
    assert model.num_params() == total_before + expected
    assert all(p.requires_grad for p in lora_parameters(model))
    lora_ids = {id(p) for p in lora_parameters(model)}
    assert not any(p.requires_grad for p in model.parameters() if id(p) not in lora_ids)


def test_gpt_starts_unchanged():
    model = _gpt()
    idx = _ids()
    before, _ = model(idx)
    apply_lora(model, targets=("c_attn", "c_proj", "c_fc"), r=4, alpha=8)
    after, _ = model(idx)
    torch.testing.assert_close(after, before, rtol=0, atol=0)


def _train_a_few_steps(model: GPT, steps: int = 5, lr: float = 1e-2) -> list[float]:
    idx = _ids(seed=3, B=4, T=CONFIG.block_size)
    targets = torch.roll(idx, -1, dims=1)
    opt = torch.optim.AdamW(lora_parameters(model), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        _, loss = model(idx, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_only_lora_parameters_train():
    model = _gpt()
    apply_lora(model, targets=("c_attn", "c_proj"), r=4)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    lora_before = [p.detach().clone() for p in lora_parameters(model)]
    losses = _train_a_few_steps(model)
    assert losses[-1] < losses[0]
    for n, p in model.named_parameters():
        if "lora_" not in n:
            assert p.grad is None, n
            torch.testing.assert_close(p, frozen[n], rtol=0, atol=0)
    changed = [
        not torch.equal(a, b) for a, b in zip(lora_before, lora_parameters(model), strict=True)
    ]
    assert all(changed)


@pytest.mark.parametrize("targets", [("c_attn",), ("c_attn", "c_proj", "c_fc")])
def test_merge_after_training_gives_identical_outputs(targets):
    model = _gpt()
    apply_lora(model, targets=targets, r=4, alpha=8, dropout=0.1)
    _train_a_few_steps(model)
    model.eval()
    idx = _ids(seed=4)
    with torch.no_grad():
        before, _ = model(idx)
        merge_lora(model)
        after, _ = model(idx)
    assert not lora_layers(model)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    assert not any("lora_" in n for n, _ in model.named_parameters())
    assert model.num_params() == _gpt().num_params()
    torch.testing.assert_close(after, before, rtol=0, atol=ATOL)
    # a merged GPT is a plain GPT again: it exports to Hugging Face
    hf = model.to_hf()
    with torch.no_grad():
        torch.testing.assert_close(hf(idx).logits, after, rtol=0, atol=ATOL)


def test_merge_changes_the_weights_by_scaled_product():
    model = _gpt()
    w0 = model.h[0].attn.c_attn.weight.detach().clone()
    apply_lora(model, r=2, alpha=6)
    _randomize_b(model)
    layer = model.h[0].attn.c_attn
    expected = w0 + 3.0 * layer.lora_B.detach() @ layer.lora_A.detach()
    merge_lora(model)
    torch.testing.assert_close(model.h[0].attn.c_attn.weight, expected)


def test_string_target_and_lm_head_kept_tied():
    model = _gpt()
    apply_lora(model, targets="c_fc", r=2)
    assert set(lora_layers(model)) == {"h.0.mlp.c_fc", "h.1.mlp.c_fc"}
    assert model.lm_head.weight is model.wte.weight


# ---------------------------------------------------------------------------------------------
# Agreement with peft
# ---------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")
def test_agrees_with_peft_on_exported_gpt():
    peft = pytest.importorskip("peft")
    r, alpha = 4, 8
    ours = _gpt(seed=5)
    hf = ours.to_hf()  # export the base model first: HF GPT-2 uses Conv1D (weights transposed)
    apply_lora(ours, targets=("c_attn",), r=r, alpha=alpha)
    _randomize_b(ours, scale=0.1)
    config = peft.LoraConfig(
        r=r,
        lora_alpha=alpha,
        target_modules=["c_attn"],
        fan_in_fan_out=True,
        lora_dropout=0.0,
        bias="none",
    )
    theirs = peft.get_peft_model(hf, config).eval()

    peft_layers = {
        n: m
        for n, m in theirs.named_modules()
        if n.endswith("attn.c_attn") and hasattr(m, "lora_A")
    }
    assert len(peft_layers) == CONFIG.n_layer
    with torch.no_grad():
        for i in range(CONFIG.n_layer):
            mine = ours.h[i].attn.c_attn
            other = peft_layers[f"base_model.model.transformer.h.{i}.attn.c_attn"]
            # peft's lora_A/lora_B are nn.Linear(in, r) / nn.Linear(r, out): weights (r, in) and
            # (out, r), the same layout as ours even though the Conv1D base stores (in, out).
            assert other.base_layer.weight.shape == (CONFIG.n_embd, 3 * CONFIG.n_embd)
            assert other.lora_A["default"].weight.shape == mine.lora_A.shape
            assert other.lora_B["default"].weight.shape == mine.lora_B.shape
            assert other.scaling["default"] == mine.scaling
            other.lora_A["default"].weight.copy_(mine.lora_A)
            other.lora_B["default"].weight.copy_(mine.lora_B)

    idx = _ids(seed=6)
    with torch.no_grad():
        our_logits, _ = ours(idx)
        their_logits = theirs(input_ids=idx).logits
    torch.testing.assert_close(their_logits, our_logits, rtol=0, atol=ATOL)
    assert torch.count_nonzero(ours.h[0].attn.c_attn.lora_B) > 0

    trainable, _total = theirs.get_nb_trainable_parameters()
    assert trainable == count_trainable(ours) == CONFIG.n_layer * r * (CONFIG.n_embd * 4)

    # merged weights agree too: peft's merge_and_unload vs ours, compared through from_hf
    merged_hf = theirs.merge_and_unload()
    merge_lora(ours)
    back = GPT.from_hf(merged_hf)
    with torch.no_grad():
        torch.testing.assert_close(back(idx)[0], ours(idx)[0], rtol=0, atol=ATOL)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_unknown_target_lists_available_linear_names():
    model = _gpt()
    with pytest.raises(ValueError, match="c_atn") as info:
        apply_lora(model, targets=("c_atn",))
    message = str(info.value)
    for name in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
        assert name in message
    assert not lora_layers(model)  # nothing was changed
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("r", [0, -1, 2.0, True])
def test_bad_rank(r):
    with pytest.raises(ValueError, match="rank r"):
        apply_lora(_gpt(), r=r)
    with pytest.raises(ValueError, match="rank r"):
        LoRALinear(nn.Linear(4, 4), r=r)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(alpha=0), "alpha"),
        (dict(alpha=-2.0), "alpha"),
        (dict(dropout=1.0), "dropout"),
        (dict(dropout=-0.1), "dropout"),
    ],
)
def test_bad_alpha_and_dropout(kwargs, match):
    with pytest.raises(ValueError, match=match):
        apply_lora(_gpt(), **kwargs)


@pytest.mark.parametrize("target", ["ln_1", "attn", "wte"])
def test_non_linear_target(target):
    with pytest.raises(ValueError, match="not an nn.Linear"):
        apply_lora(_gpt(), targets=(target,))


def test_tied_lm_head_is_refused():
    with pytest.raises(ValueError, match="tying"):
        apply_lora(_gpt(), targets=("lm_head",))


def test_adapting_twice_is_refused_and_empty_targets():
    model = apply_lora(_gpt(), r=2)
    with pytest.raises(ValueError, match="already has a LoRA adapter"):
        apply_lora(model, r=2)
    with pytest.raises(ValueError, match="targets"):
        apply_lora(_gpt(), targets=())


def test_wrapping_a_non_linear_layer():
    with pytest.raises(ValueError, match="nn.Linear"):
        LoRALinear(nn.Conv1d(3, 3, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="init"):
        LoRALinear(nn.Linear(3, 3), init="zeros")
