"""gptlab.interpret on small random models: attention maps and residual streams equal Hugging
Face's ``output_attentions`` / ``output_hidden_states`` on the exported model, the logit lens ends
in the model's logits, head ablation equals zeroing the head by hand, and bad input is refused."""

from __future__ import annotations

import copy

import pytest
import torch

from gptlab.exercises import tiny_gpt
from gptlab.interpret import ablate_heads, attention_maps, head_scores, logit_lens, residual_stream

V, BLOCK, L, NH, C = 61, 24, 3, 4, 32


@pytest.fixture(scope="module")
def model():
    return tiny_gpt(14, V, BLOCK, n_layer=L, n_head=NH, n_embd=C)


@pytest.fixture(scope="module")
def idx():
    return torch.randint(0, V, (2, 17), generator=torch.Generator().manual_seed(1))


def test_shapes_rows_and_mask(model, idx):
    maps = attention_maps(model, idx)
    assert maps.shape == (L, 2, NH, 17, 17)
    torch.testing.assert_close(maps.sum(-1), torch.ones(L, 2, NH, 17))
    assert torch.equal(maps.triu(1), torch.zeros_like(maps))  # nothing above the diagonal
    assert residual_stream(model, idx).shape == (L + 1, 2, 17, C)
    assert logit_lens(model, idx).shape == (L + 1, 2, 17, V)


def test_equal_to_hugging_face(model, idx, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hf = model.to_hf()
    hf.set_attn_implementation("eager")  # the implementation that computes the weights
    with torch.no_grad():
        out = hf(idx, output_attentions=True, output_hidden_states=True)
    maps = attention_maps(model, idx)
    torch.testing.assert_close(maps, torch.stack(out.attentions), rtol=1e-5, atol=1e-5)
    stream, theirs = residual_stream(model, idx), torch.stack(out.hidden_states)
    # Hugging Face's last hidden state has the final LayerNorm applied; ours is the raw stream.
    torch.testing.assert_close(stream[:-1], theirs[:-1], rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(model.ln_f(stream[-1]), theirs[-1], rtol=1e-5, atol=1e-5)


def test_logit_lens_ends_in_the_logits(model, idx):
    lens = logit_lens(model, idx)
    with torch.no_grad():
        logits, _ = model(idx)
        first = model.lm_head(model.ln_f(model.wte(idx) + model.wpe.weight[: idx.size(1)]))
    torch.testing.assert_close(lens[-1], logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(lens[0], first, rtol=0, atol=1e-6)


def test_maps_in_train_mode_are_those_of_eval_mode(idx):
    model = tiny_gpt(3, V, BLOCK, n_layer=2, n_head=2, dropout=0.5)
    want = attention_maps(model, idx)
    model.train()
    torch.testing.assert_close(attention_maps(model, idx), want)  # dropout is off inside
    assert model.training  # and the mode is given back


def test_head_scores(model, idx):
    maps = attention_maps(model, idx)
    T = idx.size(1)
    prev = head_scores(maps, torch.arange(T) - 1)
    want = torch.stack([maps[..., t, t - 1] for t in range(1, T)], -1).mean(dim=(1, 3))
    torch.testing.assert_close(prev, want)
    assert head_scores(maps, torch.zeros(T, dtype=torch.long))[0, 0] <= 1.0
    for bad, message in [
        (torch.arange(T + 1) - 1, "shape"),
        (torch.full((T,), -1), "no query"),
        (torch.arange(T) + 1, "after its query"),
    ]:
        with pytest.raises(ValueError, match=message):
            head_scores(maps, bad)


def _zeroed_by_hand(model, heads):
    """A copy whose c_proj ignores the given heads: their input columns set to zero."""
    clone, hs = copy.deepcopy(model), C // NH
    with torch.no_grad():
        for layer, head in heads:
            clone.h[layer].attn.c_proj.weight[:, head * hs : (head + 1) * hs] = 0.0
    return clone


@pytest.mark.parametrize("heads", [[(0, 1)], [(2, 3), (0, 0), (2, 1)]])
def test_ablation_equals_zeroing_by_hand(model, idx, heads):
    with torch.no_grad():
        want, _ = _zeroed_by_hand(model, heads)(idx)
        before, _ = model(idx)
        with ablate_heads(model, heads):
            got, _ = model(idx)
            maps = attention_maps(model, idx)
        after, _ = model(idx)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(got, before)
    assert torch.equal(after, before)
    if heads[0][0] > 0:  # ablating a later head leaves the first layer's pattern as it was
        torch.testing.assert_close(maps[0], attention_maps(model, idx)[0])


def test_model_is_restored_even_when_the_body_raises(model, idx):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        before, _ = model(idx)
    with pytest.raises(RuntimeError, match="boom"), ablate_heads(model, [(1, 2)]):
        raise RuntimeError("boom")
    assert all(not b.attn.c_proj._forward_pre_hooks for b in model.h)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        assert torch.equal(model(idx)[0], before)


@pytest.mark.parametrize(
    ("heads", "message"),
    [
        ([], "empty"),
        ([(L, 0)], f"layer {L} does not exist"),
        ([(-1, 0)], "layer -1 does not exist"),
        ([(0, NH)], f"head {NH} does not exist"),
        ([(0, 1.0)], "integers"),
        ([3], "pair"),
    ],
)
def test_bad_heads(model, heads, message):
    with pytest.raises(ValueError, match=message), ablate_heads(model, heads):
        pass


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.tensor([[0, V]]), f"token id {V} is out of range"),
        (torch.tensor([[-1, 2]]), "out of range"),
        (torch.zeros(1, BLOCK + 1, dtype=torch.long), "longer than block_size"),
    ],
)
@pytest.mark.parametrize("function", [attention_maps, residual_stream, logit_lens])
def test_bad_ids(model, function, bad, message):
    with pytest.raises(ValueError, match=message):
        function(model, bad)
    assert all(not b.attn._forward_hooks and not b._forward_hooks for b in model.h)


def test_not_a_gptlab_model(model, idx):
    with pytest.raises(TypeError, match="GPT.from_hf"):
        attention_maps(model.to_hf(), idx)


def _transformer_lens_cache(hf, idx, folder):
    """Run TransformerLens on the exported model offline; its cache of activations."""
    pytest.importorskip("transformer_lens")
    try:  # 3.x: a config built from Hugging Face's, weights from its own GPT-2 converter
        from transformer_lens import HookedTransformer, HookedTransformerConfig
    except ImportError:  # 4.x: the bridge reads the exported folder
        from transformer_lens.model_bridge import TransformerBridge

        hf.save_pretrained(folder)
        return TransformerBridge.boot_transformers(str(folder), device="cpu").run_with_cache(idx)[1]
    from transformer_lens.pretrained.weight_conversions import convert_gpt2_weights

    c = hf.config
    cfg = HookedTransformerConfig(
        d_model=c.n_embd, d_head=c.n_embd // c.n_head, n_heads=c.n_head, d_mlp=4 * c.n_embd,
        n_layers=c.n_layer, n_ctx=c.n_positions, d_vocab=c.vocab_size, act_fn="gelu_new",
        normalization_type="LN", eps=c.layer_norm_epsilon, device="cpu",
    )  # fmt: skip
    lens = HookedTransformer(cfg, move_to_device=False)
    lens.load_and_process_state_dict(  # no folding or centring: they change the stream
        convert_gpt2_weights(hf, cfg), fold_ln=False, center_writing_weights=False,
        center_unembed=False, fold_value_biases=False, refactor_factored_attn_matrices=False,
    )  # fmt: skip
    return lens.eval().run_with_cache(idx)[1]


def test_equal_to_transformer_lens(model, idx, tmp_path, monkeypatch):
    """TransformerLens, the interpretability library, sees the same patterns and stream (it is
    not a course dependency: skipped unless installed; run with 3.9 and 4.3)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = _transformer_lens_cache(model.to_hf(), idx, tmp_path / "exported")
    patterns = torch.stack([cache[f"blocks.{i}.attn.hook_pattern"] for i in range(L)])
    names = ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in range(L)]
    stream = torch.stack([cache[name] for name in names])
    torch.testing.assert_close(patterns, attention_maps(model, idx), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(stream, residual_stream(model, idx), rtol=1e-5, atol=1e-5)
